"""retention: when a case was redacted, and the privacy log (revision 0006, after 0005; 2026-12-01)."""

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redacted_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        'privacy_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_privacy_log_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_log')),
    )
    with op.batch_alter_table('privacy_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_log_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('privacy_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_log_person_id'))
    op.drop_table('privacy_log')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('redacted_at')
