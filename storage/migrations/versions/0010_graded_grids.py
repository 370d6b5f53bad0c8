"""graded grids (网格分级分类): grid_states, grid_grade_history, grid_patrols
(revision 0010, after 0009; 2026-12-01)."""

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'grid_states',
        sa.Column('region_code', sa.String(length=40), nullable=False),
        sa.Column('grade', sa.String(length=8), nullable=False),
        sa.Column('key_places', sa.Integer(), nullable=False),
        sa.Column('graded_at', UTC_TIME, nullable=True),
        sa.Column('proposed_grade', sa.String(length=8), nullable=True),
        sa.Column('proposed_score', sa.Double(), nullable=True),
        sa.Column('proposed_at', UTC_TIME, nullable=True),
        sa.Column('proposal', sa.JSON(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_grid_states_region_code_regions')),
        sa.PrimaryKeyConstraint('region_code', name=op.f('pk_grid_states')),
    )
    op.create_table(
        'grid_grade_history',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('region_code', sa.String(length=40), nullable=False),
        sa.Column('grade', sa.String(length=8), nullable=False),
        sa.Column('previous', sa.String(length=8), nullable=False),
        sa.Column('proposed', sa.String(length=8), nullable=True),
        sa.Column('score', sa.Double(), nullable=True),
        sa.Column('indicators', sa.JSON(), nullable=False),
        sa.Column('decided_by', BIGID, nullable=True),
        sa.Column('at', UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(['decided_by'], ['people.id'], name=op.f('fk_grid_grade_history_decided_by_people')),
        sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_grid_grade_history_region_code_regions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_grade_history')),
    )
    with op.batch_alter_table('grid_grade_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_grade_history_region_code'), ['region_code'], unique=False)
    op.create_table(
        'grid_patrols',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('region_code', sa.String(length=40), nullable=False),
        sa.Column('person_id', BIGID, nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('done', sa.String(length=500), nullable=False),
        sa.Column('found', sa.String(length=500), nullable=False),
        sa.Column('photos', sa.JSON(), nullable=False),
        sa.Column('at', UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_grid_patrols_person_id_people')),
        sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_grid_patrols_region_code_regions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_patrols')),
    )
    with op.batch_alter_table('grid_patrols', schema=None) as batch_op:
        batch_op.create_index('ix_grid_patrols_region_at', ['region_code', 'at'], unique=False)


def downgrade() -> None:
    op.drop_table('grid_patrols')
    op.drop_table('grid_grade_history')
    op.drop_table('grid_states')
