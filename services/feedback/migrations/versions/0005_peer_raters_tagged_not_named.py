"""peer raters tagged, not named: peer_ratings.giver_id becomes an HMAC tag under a KEK-wrapped key

Rows that exist are converted with the key file of the settings (MERITLOOP_FEEDBACK_KEK_FILE);
an empty table needs no key. The downgrade cannot name givers again (the tag is one-way): it
gives each tag a stand-in id, which keeps counts and aggregates but not "ratings you gave".

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 14:01:42.520801
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database
from services.feedback.crypto import (
    PEER_TAG_KEY,
    ensure_development_kek,
    new_key,
    parse_kek_file,
    peer_tag,
    seal,
    service_key_aad,
)
from shared.settings import Environment, Settings


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ratings = sa.table(
    'peer_ratings',
    sa.column('id', sa.Uuid()),
    sa.column('cycle_id', sa.Uuid()),
    sa.column('giver_id', sa.Uuid()),
    sa.column('giver_tag', sa.LargeBinary()),
)
service_keys = sa.table(
    'feedback_service_keys',
    sa.column('name', sa.String()),
    sa.column('kek_id', sa.String()),
    sa.column('wrapped_key', sa.LargeBinary()),
    sa.column('created_at', shared.database.UTCDateTime()),
)


def _tag_existing_ratings() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(ratings.c.id, ratings.c.cycle_id, ratings.c.giver_id)).all()
    if not rows:
        return
    settings = Settings()
    path = settings.feedback_kek_path()
    if settings.environment is not Environment.production:
        ensure_development_kek(path)
    kek = parse_kek_file(path.read_text())[0]
    key = new_key()
    bind.execute(
        service_keys.insert().values(
            name=PEER_TAG_KEY,
            kek_id=kek.id,
            wrapped_key=seal(kek.key, key, service_key_aad(PEER_TAG_KEY)),
            created_at=shared.database.utcnow(),
        )
    )
    for row_id, cycle_id, giver_id in rows:
        bind.execute(
            ratings.update().where(ratings.c.id == row_id).values(giver_tag=peer_tag(key, cycle_id, giver_id))
        )


def upgrade() -> None:
    op.create_table('feedback_service_keys',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('kek_id', sa.String(length=64), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_feedback_service_keys'))
    )
    with op.batch_alter_table('feedback_service_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_service_keys_kek_id'), ['kek_id'], unique=False)

    with op.batch_alter_table('peer_ratings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('giver_tag', sa.LargeBinary(length=32), nullable=True))
    _tag_existing_ratings()
    with op.batch_alter_table('peer_ratings', schema=None) as batch_op:
        batch_op.alter_column('giver_tag', existing_type=sa.LargeBinary(length=32), nullable=False)
        batch_op.drop_index(batch_op.f('ix_peer_ratings_giver_id'))
        batch_op.drop_constraint(batch_op.f('uq_peer_ratings_cycle_id_giver_id_receiver_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_peer_ratings_giver_tag'), ['giver_tag'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_peer_ratings_cycle_id_giver_tag_receiver_id'), ['cycle_id', 'giver_tag', 'receiver_id'])
        batch_op.drop_column('giver_id')


def downgrade() -> None:
    with op.batch_alter_table('peer_ratings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('giver_id', sa.Uuid(), nullable=True))
    bind = op.get_bind()
    for row_id, tag in bind.execute(sa.select(ratings.c.id, ratings.c.giver_tag)).all():
        bind.execute(ratings.update().where(ratings.c.id == row_id).values(giver_id=uuid.UUID(bytes=bytes(tag)[:16])))
    with op.batch_alter_table('peer_ratings', schema=None) as batch_op:
        batch_op.alter_column('giver_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_constraint(batch_op.f('uq_peer_ratings_cycle_id_giver_tag_receiver_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_peer_ratings_giver_tag'))
        batch_op.create_unique_constraint(batch_op.f('uq_peer_ratings_cycle_id_giver_id_receiver_id'), ['cycle_id', 'giver_id', 'receiver_id'])
        batch_op.create_index(batch_op.f('ix_peer_ratings_giver_id'), ['giver_id'], unique=False)
        batch_op.drop_column('giver_tag')

    with op.batch_alter_table('feedback_service_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_service_keys_kek_id'))

    op.drop_table('feedback_service_keys')
