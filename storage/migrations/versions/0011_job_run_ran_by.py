"""job runs: which process ran each job (ran_by, host:pid), now that several `pingan run`
processes may share one database and one of them holds the worker role (revision 0011,
after 0010; 2026-12-01)."""

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'


def upgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('ran_by', sa.String(length=100), server_default='', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_column('ran_by')
