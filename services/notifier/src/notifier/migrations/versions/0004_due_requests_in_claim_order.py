"""The dispatcher claims due requests in (due_at, request_id) order: the index of
waiting requests carries both, so a round reads its batch from the index instead of
fetching and sorting every due request (decision 0063)."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

WAITING = "status IN ('pending', 'sending')"


def upgrade() -> None:
    op.drop_index("contact_requests_due", table_name="contact_requests")
    op.create_index("contact_requests_due", "contact_requests", ["due_at", "request_id"],
                    postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))

