"""The runtime's own Alembic chain, with its own version table, applied to every
service's database after the service's chain (``migrations.upgrade``)."""
