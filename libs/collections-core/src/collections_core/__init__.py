"""The runtime shared by the card-collections services."""
