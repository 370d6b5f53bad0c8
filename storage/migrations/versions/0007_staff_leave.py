"""staff leave and need-to-know reads: people.disabled_at, invites.revoked_at, status_misses (revision 0007, after 0006; 2026-12-01)."""

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'


def upgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('invites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        'status_misses',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_status_misses_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_status_misses')),
    )
    with op.batch_alter_table('status_misses', schema=None) as batch_op:
        batch_op.create_index('ix_status_misses_person_at', ['person_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('status_misses', schema=None) as batch_op:
        batch_op.drop_index('ix_status_misses_person_at')
    op.drop_table('status_misses')

    with op.batch_alter_table('invites', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('disabled_at')
