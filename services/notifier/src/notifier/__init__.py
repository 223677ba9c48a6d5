"""notifier: contacts customers by SMS, email and letter under the contact policy."""
