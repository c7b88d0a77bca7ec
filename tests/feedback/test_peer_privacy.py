"""Peer ratings keep who rated whom out of the database: the giver is an HMAC tag under a key
the KEK wraps. Existing ratings are converted by the migration."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.feedback.crypto import parse_kek_file
from services.feedback.models import PeerRating
from services.feedback.rotation import rotate_kek
from shared.database import create_engine, utcnow
from shared.migrations import upgrade_async
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.feedback.support import ensure_directory_stream, make_org

pytestmark = pytest.mark.database

cycles = sa.table(
    "peer_cycles",
    sa.column("id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
legacy_ratings = sa.table(
    "peer_ratings",
    sa.column("id", sa.Uuid()),
    sa.column("cycle_id", sa.Uuid()),
    sa.column("giver_id", sa.Uuid()),
    sa.column("receiver_id", sa.Uuid()),
    sa.column("rating", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def forms(person: uuid.UUID) -> set[Any]:
    return {person, str(person), person.hex, person.bytes, person.hex.encode(), str(person).encode()}


async def cells(client: httpx.AsyncClient) -> list[Any]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(PeerRating.__table__))).all()
    return [value for row in rows for value in row]


async def test_givers_are_tagged_in_old_and_new_ratings(
    service_client: ServiceClientFactory, settings: Settings, auth: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = settings.database_url("feedback")
    await upgrade_async("feedback", url, "0004")
    cycle, old_giver, old_receiver = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(cycles.insert().values(id=cycle, status="open", created_at=utcnow()))
        await connection.execute(
            legacy_ratings.insert().values(
                id=uuid.uuid4(),
                cycle_id=cycle,
                giver_id=old_giver,
                receiver_id=old_receiver,
                rating=4,
                created_at=utcnow(),
            )
        )
    await engine.dispose()
    # The migration runs with the installation's settings, as `meritloop migrate` would.
    monkeypatch.setenv("MERITLOOP_FEEDBACK_KEK_FILE", str(settings.feedback_kek_path()))
    monkeypatch.setenv("MERITLOOP_ENVIRONMENT", "test")

    await ensure_directory_stream(settings.nats_url)
    async with service_client("feedback") as client:
        # The old giver still finds their rating; nobody else does.
        base = f"/review-cycles/{cycle}/peer-ratings"
        mine = (await client.get(base, headers=auth(person_id=old_giver))).json()
        assert [(item["receiver_id"], item["rating"]) for item in mine["items"]] == [(str(old_receiver), 4)]
        assert (await client.get(base, headers=auth(person_id=old_receiver))).json()["total"] == 0

        org = await make_org(settings.nats_url, client, auth)
        third = uuid.uuid4()  # the manager never counts as a rater (below): a third colleague
        for headers in (org.headers("giver"), org.headers("colleague"), auth(person_id=third)):
            response = await client.put(f"{base}/{org.receiver.id}", json={"rating": 3}, headers=headers)
            assert response.status_code == 201, response.text
        # Changing and withdrawing find the rating by the tag too.
        again = await client.put(f"{base}/{org.receiver.id}", json={"rating": 5}, headers=org.headers("giver"))
        assert again.status_code == 200
        assert (await client.delete(f"{base}/{org.receiver.id}", headers=org.headers("colleague"))).status_code == 204
        given = (await client.get(base, headers=org.headers("giver"))).json()
        assert [(item["receiver_id"], item["rating"]) for item in given["items"]] == [(str(org.receiver.id), 5)]

        stored = await cells(client)
        assert str(org.receiver.id) in {str(value) for value in stored}  # the scan sees ids where they are
        for giver_id in (old_giver, org.giver.id, third):
            assert not forms(giver_id) & {value for value in stored if isinstance(value, str | bytes | uuid.UUID)}
            for value in stored:
                if isinstance(value, bytes):
                    assert giver_id.bytes not in value
        # One tag per remaining giver.
        async with client.app.state.engine.connect() as connection:  # type: ignore[attr-defined]
            tags = (await connection.execute(sa.select(PeerRating.giver_tag))).scalars().all()
        assert len(set(tags)) == 3

        # Rotating the KEK re-wraps the tag key too: givers still find their ratings after it.
        (old_kek,) = parse_kek_file(settings.feedback_kek_path().read_text())
        rotation = await rotate_kek(settings)
        assert rotation.removed == [old_kek.id]
        again_mine = (await client.get(base, headers=auth(person_id=old_giver))).json()
        assert again_mine["total"] == 1
