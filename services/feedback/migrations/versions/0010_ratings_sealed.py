"""ratings sealed: 360, upward and peer ratings under a tally key per round, pulse or cycle

The clear ``peer_answers.ratings``, ``upward_answers.rating`` and ``peer_ratings.rating`` become
AES-GCM ciphertext (``sealed_ratings`` / ``sealed_rating``) under a tally key per scope, which
``feedback_tally_keys`` holds wrapped by the KEK (services/feedback/keyring.py, ``Tally``).

Existing rows are sealed here, in the migration:

* a scope still open (round, pulse or cycle) gets a tally key wrapped by the current KEK of the
  settings' key file (``MERITLOOP_FEEDBACK_KEK_FILE``, as ``meritloop migrate`` and the migration
  Job see it; outside production a development key is made as the service would);
* a scope already released, suppressed, closed or cancelled gets what the service leaves at
  release: its ratings sealed under a key that is thrown away, and a tombstone. Nothing reads a
  single rating after release (the aggregates are stored), so none is kept.

So the KEK is needed only when an open scope has ratings. On SQLite the old pages are zeroed
(``secure_delete``); on PostgreSQL the old row versions stay in the table's files until
``VACUUM FULL peer_answers, upward_answers, peer_ratings`` (docs/feedback.md). The downgrade opens what a live key
still opens; where the key is gone no rating exists any more and it writes a stand-in outside
the 1-5 scale (0, or no competency), keeping every aggregate.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 17:30:00.000000
"""

import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import shared.database
from services.feedback.crypto import (
    KekEntry,
    ensure_development_kek,
    new_key,
    open_sealed,
    parse_kek_file,
    rating_aad,
    seal,
    tally_key_aad,
)
from shared.settings import Environment, Settings

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As services/feedback/keyring.py and the services name them (frozen here: they are in the AAD).
PEER_ROUND, UPWARD_PULSE, PEER_CYCLE = "peer-round", "upward-pulse", "peer-cycle"
PEER_ANSWER, UPWARD_ANSWER, PEER_RATING = "peer-answer", "upward-answer", "peer-rating"

tally_keys = sa.table(
    "feedback_tally_keys",
    sa.column("kind", sa.String()),
    sa.column("scope_id", sa.Uuid()),
    sa.column("kek_id", sa.String()),
    sa.column("wrapped_key", sa.LargeBinary()),
    sa.column("destroyed_at", shared.database.UTCDateTime()),
)
peer_rounds = sa.table("peer_rounds", sa.column("id", sa.Uuid()), sa.column("status", sa.String()))
upward_pulses = sa.table("upward_pulses", sa.column("id", sa.Uuid()), sa.column("status", sa.String()))
peer_cycles = sa.table("peer_cycles", sa.column("id", sa.Uuid()), sa.column("status", sa.String()))
peer_answers = sa.table(
    "peer_answers",
    sa.column("id", sa.Uuid()),
    sa.column("round_id", sa.Uuid()),
    sa.column("ratings", sa.JSON()),
    sa.column("sealed_ratings", sa.LargeBinary()),
)
upward_answers = sa.table(
    "upward_answers",
    sa.column("id", sa.Uuid()),
    sa.column("pulse_id", sa.Uuid()),
    sa.column("manager_id", sa.Uuid()),
    sa.column("rating", sa.Integer()),
    sa.column("sealed_rating", sa.LargeBinary()),
)
peer_ratings = sa.table(
    "peer_ratings",
    sa.column("id", sa.Uuid()),
    sa.column("cycle_id", sa.Uuid()),
    sa.column("receiver_id", sa.Uuid()),
    sa.column("giver_tag", sa.LargeBinary()),
    sa.column("rating", sa.Integer()),
    sa.column("sealed_rating", sa.LargeBinary()),
)


def _keks() -> list[KekEntry]:
    settings = Settings()
    path = settings.feedback_kek_path()
    if settings.environment is not Environment.production:
        ensure_development_kek(path)
    try:
        return parse_kek_file(path.read_text())
    except FileNotFoundError as exc:
        raise RuntimeError(
            f"ratings of open rounds must be sealed under the feedback KEK: no key file at {path}"
            " (set MERITLOOP_FEEDBACK_KEK_FILE for the migration as for the service)"
        ) from exc


def _plaintext(value: object) -> bytes:
    # As keyring.Tally seals: compact JSON, keys sorted.
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class _Scopes:
    """One tally key per scope with rows; wrapped when the scope is open, thrown away otherwise."""

    def __init__(self, bind: sa.Connection) -> None:
        self.bind = bind
        self.keys: dict[tuple[str, uuid.UUID], bytes] = {}
        self._kek: KekEntry | None = None

    def key(self, kind: str, scope_id: uuid.UUID, is_open: bool) -> bytes:
        if (kind, scope_id) in self.keys:
            return self.keys[kind, scope_id]
        key = new_key()
        values: dict[str, Any] = {"kind": kind, "scope_id": scope_id}
        if is_open:
            if self._kek is None:
                self._kek = _keks()[0]
            values |= {"kek_id": self._kek.id, "wrapped_key": seal(self._kek.key, key, tally_key_aad(kind, scope_id))}
        else:
            values |= {"destroyed_at": shared.database.utcnow()}
        self.bind.execute(tally_keys.insert().values(**values))
        self.keys[kind, scope_id] = key
        return key


def _update(table: sa.TableClause, column: str, values: list[dict[str, Any]]) -> None:
    if values:
        value = sa.bindparam("value", type_=table.c[column].type)
        statement = table.update().where(table.c.id == sa.bindparam("row_id")).values({column: value})
        op.get_bind().execute(statement, values)


def _seal_existing() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # The rebuilt tables leave the old pages, clear ratings in them, on the free list: zero them.
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    scopes = _Scopes(bind)
    sealed: list[dict[str, Any]] = []
    query = sa.select(peer_answers.c.id, peer_answers.c.round_id, peer_answers.c.ratings, peer_rounds.c.status).join(
        peer_rounds, peer_rounds.c.id == peer_answers.c.round_id
    )
    for row_id, round_id, ratings, status in bind.execute(query).all():
        key = scopes.key(PEER_ROUND, round_id, status == "open")
        value = seal(key, _plaintext(dict(ratings or {})), rating_aad(PEER_ANSWER, row_id, round_id))
        sealed.append({"row_id": row_id, "value": value})
    _update(peer_answers, "sealed_ratings", sealed)

    sealed = []
    query = sa.select(
        upward_answers.c.id,
        upward_answers.c.pulse_id,
        upward_answers.c.manager_id,
        upward_answers.c.rating,
        upward_pulses.c.status,
    ).join(upward_pulses, upward_pulses.c.id == upward_answers.c.pulse_id)
    for row_id, pulse_id, manager_id, rating, status in bind.execute(query).all():
        key = scopes.key(UPWARD_PULSE, pulse_id, status == "open")
        value = seal(key, _plaintext(int(rating)), rating_aad(UPWARD_ANSWER, row_id, pulse_id, manager_id))
        sealed.append({"row_id": row_id, "value": value})
    _update(upward_answers, "sealed_rating", sealed)

    sealed = []
    query = sa.select(
        peer_ratings.c.id,
        peer_ratings.c.cycle_id,
        peer_ratings.c.receiver_id,
        peer_ratings.c.giver_tag,
        peer_ratings.c.rating,
        peer_cycles.c.status,
    ).join(peer_cycles, peer_cycles.c.id == peer_ratings.c.cycle_id)
    for row_id, cycle_id, receiver_id, tag, rating, status in bind.execute(query).all():
        key = scopes.key(PEER_CYCLE, cycle_id, status == "open")
        aad = rating_aad(PEER_RATING, row_id, cycle_id, receiver_id, bytes(tag))
        sealed.append({"row_id": row_id, "value": seal(key, _plaintext(int(rating)), aad)})
    _update(peer_ratings, "sealed_rating", sealed)


def upgrade() -> None:
    op.create_table('feedback_tally_keys',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('scope_id', sa.Uuid(), nullable=False),
    sa.Column('kek_id', sa.String(length=64), nullable=True),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('rotated_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('destroyed_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kind', 'scope_id', name=op.f('pk_feedback_tally_keys'))
    )
    with op.batch_alter_table('feedback_tally_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_tally_keys_kek_id'), ['kek_id'], unique=False)

    with op.batch_alter_table('peer_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_ratings', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('upward_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_rating', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('peer_ratings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_rating', sa.LargeBinary(), nullable=True))

    _seal_existing()

    with op.batch_alter_table('peer_answers', schema=None) as batch_op:
        batch_op.alter_column('sealed_ratings', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('ratings')
    with op.batch_alter_table('upward_answers', schema=None) as batch_op:
        batch_op.alter_column('sealed_rating', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('rating')
    with op.batch_alter_table('peer_ratings', schema=None) as batch_op:
        batch_op.alter_column('sealed_rating', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('rating')


def _opened_existing() -> None:
    bind = op.get_bind()
    live = {
        (kind, scope_id): (kek_id, bytes(wrapped))
        for kind, scope_id, kek_id, wrapped in bind.execute(
            sa.select(tally_keys.c.kind, tally_keys.c.scope_id, tally_keys.c.kek_id, tally_keys.c.wrapped_key).where(
                tally_keys.c.wrapped_key.is_not(None)
            )
        ).all()
    }
    keks: dict[str, bytes] = {}
    keys: dict[tuple[str, uuid.UUID], bytes] = {}

    def key(kind: str, scope_id: uuid.UUID) -> bytes | None:
        if (kind, scope_id) not in live:
            return None
        if (kind, scope_id) not in keys:
            if not keks:
                keks.update((entry.id, entry.key) for entry in _keks())
            kek_id, wrapped = live[kind, scope_id]
            keys[kind, scope_id] = open_sealed(keks[kek_id], wrapped, tally_key_aad(kind, scope_id))
        return keys[kind, scope_id]

    opened: list[dict[str, Any]] = []
    for row_id, round_id, value in bind.execute(
        sa.select(peer_answers.c.id, peer_answers.c.round_id, peer_answers.c.sealed_ratings)
    ).all():
        tally = key(PEER_ROUND, round_id)
        plain = {} if tally is None else json.loads(open_sealed(tally, value, rating_aad(PEER_ANSWER, row_id, round_id)))
        opened.append({"row_id": row_id, "value": plain})
    _update(peer_answers, "ratings", opened)

    opened = []
    for row_id, pulse_id, manager_id, value in bind.execute(
        sa.select(upward_answers.c.id, upward_answers.c.pulse_id, upward_answers.c.manager_id, upward_answers.c.sealed_rating)
    ).all():
        tally = key(UPWARD_PULSE, pulse_id)
        aad = rating_aad(UPWARD_ANSWER, row_id, pulse_id, manager_id)
        opened.append({"row_id": row_id, "value": 0 if tally is None else json.loads(open_sealed(tally, value, aad))})
    _update(upward_answers, "rating", opened)

    opened = []
    for row_id, cycle_id, receiver_id, tag, value in bind.execute(
        sa.select(
            peer_ratings.c.id, peer_ratings.c.cycle_id, peer_ratings.c.receiver_id, peer_ratings.c.giver_tag, peer_ratings.c.sealed_rating
        )
    ).all():
        tally = key(PEER_CYCLE, cycle_id)
        aad = rating_aad(PEER_RATING, row_id, cycle_id, receiver_id, bytes(tag))
        opened.append({"row_id": row_id, "value": 0 if tally is None else json.loads(open_sealed(tally, value, aad))})
    _update(peer_ratings, "rating", opened)


def downgrade() -> None:
    with op.batch_alter_table('peer_ratings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rating', sa.Integer(), nullable=True))
    with op.batch_alter_table('upward_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rating', sa.Integer(), nullable=True))
    with op.batch_alter_table('peer_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ratings', sa.JSON(), nullable=True))

    _opened_existing()

    with op.batch_alter_table('peer_ratings', schema=None) as batch_op:
        batch_op.alter_column('rating', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('sealed_rating')
    with op.batch_alter_table('upward_answers', schema=None) as batch_op:
        batch_op.alter_column('rating', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('sealed_rating')
    with op.batch_alter_table('peer_answers', schema=None) as batch_op:
        batch_op.alter_column('ratings', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('sealed_ratings')

    with op.batch_alter_table('feedback_tally_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_tally_keys_kek_id'))
    op.drop_table('feedback_tally_keys')
