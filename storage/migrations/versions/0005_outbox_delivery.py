"""outbox delivery: leases, parts sent, retry horizon, in-doubt sends, urgent delays (revision 0005, after 0004; 2026-12-01)."""

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('parts_sent', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('doubts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('delay_told', sa.Integer(), nullable=True))
        batch_op.alter_column('not_before', existing_type=sa.DateTime(timezone=True), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE outbox SET not_before = created_at WHERE not_before IS NULL")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('not_before', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_column('delay_told')
        batch_op.drop_column('doubts')
        batch_op.drop_column('first_failed_at')
        batch_op.drop_column('parts_sent')
        batch_op.drop_column('lease_until')
