"""key persons (重点人员包保帮扶): key_persons, key_person_chain, key_person_visits,
key_person_events, key_person_reads (revision 0009, after 0008; 2026-12-01)."""

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'key_persons',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('id_number', sa.String(length=32), nullable=True),
        sa.Column('phone', sa.String(length=32), nullable=True),
        sa.Column('region_code', sa.String(length=40), nullable=False),
        sa.Column('region_path', sa.String(length=400), nullable=False),
        sa.Column('tier', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('case_id', BIGID, nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('enrolled_by', BIGID, nullable=False),
        sa.Column('enrolled_at', UTC_TIME, nullable=False),
        sa.Column('closed_at', UTC_TIME, nullable=True),
        sa.Column('next_reassess_at', UTC_TIME, nullable=False),
        sa.Column('reassess_asked_at', UTC_TIME, nullable=True),
        sa.Column('reassess_chases', sa.Integer(), nullable=False),
        sa.Column('redacted_at', UTC_TIME, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_key_persons_case_id_cases')),
        sa.ForeignKeyConstraint(['enrolled_by'], ['people.id'], name=op.f('fk_key_persons_enrolled_by_people')),
        sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_key_persons_region_code_regions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_key_persons')),
    )
    with op.batch_alter_table('key_persons', schema=None) as batch_op:
        batch_op.create_index('ix_key_persons_status_tier', ['status', 'tier'], unique=False)
        batch_op.create_index(batch_op.f('ix_key_persons_region_path'), ['region_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_key_persons_next_reassess_at'), ['next_reassess_at'], unique=False)

    op.create_table(
        'key_person_chain',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('key_person_id', BIGID, nullable=False),
        sa.Column('role', sa.String(length=8), nullable=False),
        sa.Column('person_id', BIGID, nullable=False),
        sa.ForeignKeyConstraint(['key_person_id'], ['key_persons.id'], name=op.f('fk_key_person_chain_key_person_id_key_persons')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_key_person_chain_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_key_person_chain')),
        sa.UniqueConstraint('key_person_id', 'role', 'person_id', name=op.f('uq_key_person_chain_key_person_id')),
    )
    with op.batch_alter_table('key_person_chain', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_person_chain_key_person_id'), ['key_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_key_person_chain_person_id'), ['person_id'], unique=False)

    op.create_table(
        'key_person_visits',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('key_person_id', BIGID, nullable=False),
        sa.Column('visitor_id', BIGID, nullable=False),
        sa.Column('visited_on', sa.Date(), nullable=False),
        sa.Column('done', sa.String(length=500), nullable=False),
        sa.Column('situation', sa.String(length=500), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('photos', sa.JSON(), nullable=False),
        sa.Column('latitude', sa.Double(), nullable=True),
        sa.Column('longitude', sa.Double(), nullable=True),
        sa.Column('risk_flags', sa.JSON(), nullable=False),
        sa.Column('at', UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(['key_person_id'], ['key_persons.id'], name=op.f('fk_key_person_visits_key_person_id_key_persons')),
        sa.ForeignKeyConstraint(['visitor_id'], ['people.id'], name=op.f('fk_key_person_visits_visitor_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_key_person_visits')),
    )
    with op.batch_alter_table('key_person_visits', schema=None) as batch_op:
        batch_op.create_index('ix_key_person_visits_person_on', ['key_person_id', 'visited_on'], unique=False)

    op.create_table(
        'key_person_events',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('key_person_id', BIGID, nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('actor_id', BIGID, nullable=True),
        sa.Column('at', UTC_TIME, nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('dedupe_key', sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_key_person_events_actor_id_people')),
        sa.ForeignKeyConstraint(['key_person_id'], ['key_persons.id'], name=op.f('fk_key_person_events_key_person_id_key_persons')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_key_person_events')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_key_person_events_dedupe_key')),
    )
    with op.batch_alter_table('key_person_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_person_events_key_person_id'), ['key_person_id'], unique=False)

    op.create_table(
        'key_person_reads',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('key_person_id', BIGID, nullable=False),
        sa.Column('person_id', BIGID, nullable=True),
        sa.Column('via', sa.String(length=8), nullable=False),
        sa.Column('at', UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(['key_person_id'], ['key_persons.id'], name=op.f('fk_key_person_reads_key_person_id_key_persons')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_key_person_reads_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_key_person_reads')),
    )
    with op.batch_alter_table('key_person_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_person_reads_key_person_id'), ['key_person_id'], unique=False)


def downgrade() -> None:
    for table in ('key_person_reads', 'key_person_events', 'key_person_visits', 'key_person_chain'):
        op.drop_table(table)
    op.drop_table('key_persons')
