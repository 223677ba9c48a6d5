"""The case-router's store replaces the walking skeleton's two tables.

The skeleton never ran in production, so its tables are dropped rather than migrated.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.drop_index("cases_one_open_per_account", table_name="cases")
    op.drop_table("case_timeline")
    op.drop_table("cases")
    op.create_table('account_flags',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('flag', sa.String(length=20), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'flag')
    )
    op.create_table('case_actions',
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('last_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('case_id', 'key')
    )
    op.create_table('case_timeline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entry', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.String(length=400), nullable=False),
    sa.Column('rule', sa.String(length=80), nullable=True),
    sa.Column('strategy', sa.String(length=80), nullable=True),
    sa.Column('variant', sa.String(length=64), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_case_timeline_case_id'), 'case_timeline', ['case_id'], unique=False)
    op.create_table('cases',
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('strategy_id', sa.String(length=64), nullable=False),
    sa.Column('strategy_version', sa.Integer(), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=False),
    sa.Column('segment', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=4), nullable=False),
    sa.Column('past_due_minor', sa.BigInteger(), nullable=False),
    sa.Column('balance_minor', sa.BigInteger(), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.String(length=40), nullable=True),
    sa.Column('last_evaluated_on', sa.Date(), nullable=True),
    sa.Column('last_right_party_contact_on', sa.Date(), nullable=True),
    sa.Column('pre_notice_delivered_on', sa.Date(), nullable=True),
    sa.Column('promises_broken', sa.Integer(), nullable=False),
    sa.Column('returned_by_agency', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_index(op.f('ix_cases_account_id'), 'cases', ['account_id'], unique=False)
    op.create_index(op.f('ix_cases_customer_id'), 'cases', ['customer_id'], unique=False)
    op.create_table('contact_requests',
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('template', sa.String(length=80), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('request_id')
    )
    op.create_index(op.f('ix_contact_requests_case_id'), 'contact_requests', ['case_id'], unique=False)
    op.create_table('credit_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('behaviour', sa.String(length=20), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_credit_file_customer_id'), 'credit_file', ['customer_id'], unique=False)
    op.create_table('delinquency_days',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('bucket', sa.String(length=4), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'business_date')
    )
    op.create_table('holds',
    sa.Column('hold_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('until_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('hold_id')
    )
    op.create_index(op.f('ix_holds_case_id'), 'holds', ['case_id'], unique=False)
    op.create_table('idempotent_requests',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', 'subject')
    )
    op.create_table('payments',
    sa.Column('payment_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('counted_toward', sa.String(length=64), nullable=True),
    sa.Column('reversed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('payment_id')
    )
    op.create_table('placements',
    sa.Column('placement_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('placement_id')
    )
    op.create_index(op.f('ix_placements_account_id'), 'placements', ['account_id'], unique=False)
    op.create_index(op.f('ix_placements_case_id'), 'placements', ['case_id'], unique=False)
    op.create_table('plans',
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('instalments', sa.Text(), nullable=False),
    sa.Column('paid_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('plan_id')
    )
    op.create_index(op.f('ix_plans_account_id'), 'plans', ['account_id'], unique=False)
    op.create_index(op.f('ix_plans_case_id'), 'plans', ['case_id'], unique=False)
    op.create_table('promises',
    sa.Column('promise_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('taken_on', sa.Date(), nullable=False),
    sa.Column('paid_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('promise_id')
    )
    op.create_index(op.f('ix_promises_account_id'), 'promises', ['account_id'], unique=False)
    op.create_index(op.f('ix_promises_case_id'), 'promises', ['case_id'], unique=False)
    op.create_table('tasks',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('queue', sa.String(length=40), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('collectors', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('task_id')
    )
    op.create_index(op.f('ix_tasks_case_id'), 'tasks', ['case_id'], unique=False)
    op.create_index(op.f('ix_tasks_queue'), 'tasks', ['queue'], unique=False)

    # One open case per account: the database says so too, not only the handler.
    op.create_index("cases_one_open_per_account", "cases", ["account_id"], unique=True,
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
    op.create_index("tasks_waiting_by_queue", "tasks", ["queue", "status", "priority", "due_on"])
