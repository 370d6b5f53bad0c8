"""job runs: when a job really ran (last_run_at, the wall clock) and the time it ran as
(as_of, set when `pingan jobs run --at` replayed it) (revision 0008, after 0007; 2026-12-01)."""

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'


def upgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('as_of', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_column('as_of')
