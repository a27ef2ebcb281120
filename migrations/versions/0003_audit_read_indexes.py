"""audit log read-API indexes: per-organization by action and by time

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-03 14:00:00

The organization audit-log API filters by organization plus action and/or a time range and
orders by id (newest first). (organization_id, id) already exists; these two let PostgreSQL
answer the filtered variants (and their COUNT) from an index at a million rows.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "0003"
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.create_index("ix_audit_logs_org_action", ["organization_id", "action", "id"], unique=False)
        batch_op.create_index("ix_audit_logs_org_time", ["organization_id", "occurred_at"], unique=False)


def downgrade():
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_logs_org_time")
        batch_op.drop_index("ix_audit_logs_org_action")
