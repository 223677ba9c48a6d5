"""Stand-ins for the outside world the notifier talks to, as real servers for tests and local runs."""
