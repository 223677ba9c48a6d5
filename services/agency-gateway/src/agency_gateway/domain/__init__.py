"""The gateway's rules, free of I/O: whom to place with, when a placement ends,
what a partner may see, what a partner earns, how a webhook is signed."""
