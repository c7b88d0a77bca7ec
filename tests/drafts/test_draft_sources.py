"""The goals' and feedback's draft-sources routes: what each reader gets about Alice, signed for them.

Alice reports to the manager, who reports to the boss (skip-level); Bob is her teammate, Olga
(``outsider``) and Carol colleagues elsewhere; HR and an admin; ``gone`` is deactivated.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.attestation import SourceBundle, verify_bundle, verify_keys
from shared.settings import Settings
from tests.drafts.conftest import (
    ACTION,
    AGENDA,
    ALICE_NOTE,
    BOB_WRITTEN,
    BOBS_GOAL,
    BOBS_NOTE,
    GOAL_NOTE,
    KEY_RESULT,
    MANAGER_NOTE,
    MANAGER_WRITTEN,
    OLGA_WRITTEN,
    PEER_ANSWER,
    PRAISE,
    PRAISE_FOR_BOB,
    PRIVATE_GOAL,
    PRIVATE_NOTE,
    PUBLIC_GOAL,
    VALUE,
    World,
)
from tests.support.http import assert_problem

pytestmark = pytest.mark.database

GOAL_TEXTS = (PUBLIC_GOAL, KEY_RESULT, GOAL_NOTE, PRIVATE_GOAL, PRIVATE_NOTE, BOBS_GOAL, BOBS_NOTE)
FEEDBACK_TEXTS = (
    PRAISE,
    PRAISE_FOR_BOB,
    BOB_WRITTEN,
    OLGA_WRITTEN,
    MANAGER_WRITTEN,
    AGENDA,
    ACTION,
    MANAGER_NOTE,
    ALICE_NOTE,
    PEER_ANSWER,
)
PUBLIC_GOALS = {PUBLIC_GOAL, KEY_RESULT, GOAL_NOTE}
ALL_ALICES_GOALS = PUBLIC_GOALS | {PRIVATE_GOAL, PRIVATE_NOTE}

# Who reads which of the texts about Alice (everything else must be absent).
GOALS_SEEN = {
    "alice": ALL_ALICES_GOALS,
    "manager": ALL_ALICES_GOALS,
    "boss": ALL_ALICES_GOALS,  # reports at any depth
    "hr": ALL_ALICES_GOALS,
    "admin": ALL_ALICES_GOALS,
    "bob": PUBLIC_GOALS,  # a private goal of a teammate is not his to read
    "outsider": PUBLIC_GOALS,
}
FEEDBACK_SEEN = {
    # Written feedback others gave her is peer feedback text: never a source, shared or not.
    "alice": {PRAISE, AGENDA, ACTION, ALICE_NOTE},
    "manager": {PRAISE, MANAGER_WRITTEN, AGENDA, ACTION, MANAGER_NOTE},  # his own words, 1:1 with her
    "boss": {PRAISE},
    "hr": {PRAISE},
    "admin": {PRAISE},
    "bob": {PRAISE, BOB_WRITTEN},  # what he gave her
    "carol": {PRAISE},
}


def texts_in(bundle: dict[str, Any], candidates: tuple[str, ...]) -> set[str]:
    joined = "\n".join(item["text"] for item in bundle["items"])
    return {text for text in candidates if text in joined}


async def test_goal_sources_follow_the_goals_read_rule(world: World, settings: Settings) -> None:
    keys = verify_keys(settings)
    for who, expected in GOALS_SEEN.items():
        response = await world.goal_sources(who)
        assert response.status_code == 200, (who, response.text)
        body = response.json()
        assert texts_in(body, GOAL_TEXTS) == expected, who
        # Signed for this reader and for Alice: reviews will accept it from them only.
        bundle = SourceBundle.model_validate(body)
        assert bundle.attestation.issuer == "goals"
        assert str(bundle.attestation.subject_id) == world.seeded.alice
        assert str(bundle.attestation.reader_id) == world.person(who)
        verify_bundle(keys, bundle, reader_id=bundle.attestation.reader_id, subject_id=uuid.UUID(world.seeded.alice))
    alice = (await world.goal_sources("alice")).json()
    ids = {item["id"] for item in alice["items"]}
    assert f"goals:goal:{world.ids[PUBLIC_GOAL]}" in ids
    assert f"goals:key-result:{world.ids[KEY_RESULT]}" in ids
    assert f"goals:check-in:{world.ids[GOAL_NOTE]}" in ids
    kinds = {item["kind"] for item in alice["items"]}
    assert kinds == {"goal", "key_result", "goal_check_in"}
    text = next(item["text"] for item in alice["items"] if item["id"] == f"goals:key-result:{world.ids[KEY_RESULT]}")
    assert text == f"Key result of '{PUBLIC_GOAL}': {KEY_RESULT}: from 0 to 100 number, now 40."
    # The deactivated person is refused; nobody signed in gets nothing.
    assert_problem(await world.goal_sources("gone"), 403)
    assert (await world.goals.get("/goals/draft-sources", params={"person_id": world.seeded.alice})).status_code == 401
    bad = await world.goals.get(
        "/goals/draft-sources",
        params={"person_id": world.seeded.alice, "period_start": "2026-12-31", "period_end": "2026-01-01"},
        headers=world.headers("alice"),
    )
    assert_problem(bad, 422)
    assert "period_end" in bad.text


async def test_feedback_sources_follow_the_feedback_read_rules(world: World, settings: Settings) -> None:
    keys = verify_keys(settings)
    for who, expected in FEEDBACK_SEEN.items():
        response = await world.feedback_sources(who)
        assert response.status_code == 200, (who, response.text)
        body = response.json()
        found = texts_in(body, FEEDBACK_TEXTS)
        assert found == expected, (who, found ^ expected)
        assert PEER_ANSWER not in response.text, who  # never, for anyone: not even Alice, who may read it
        bundle = SourceBundle.model_validate(body)
        assert (bundle.attestation.issuer, str(bundle.attestation.subject_id)) == ("feedback", world.seeded.alice)
        assert str(bundle.attestation.reader_id) == world.person(who)
        verify_bundle(keys, bundle, reader_id=bundle.attestation.reader_id, subject_id=uuid.UUID(world.seeded.alice))
    alice = (await world.feedback_sources("alice")).json()
    by_id = {item["id"]: item for item in alice["items"]}
    praise = by_id[f"feedback:praise:{world.ids[PRAISE]}"]
    assert praise["kind"] == "praise"
    assert f"for the value '{VALUE}'" in praise["text"]
    assert world.seeded.bob not in str(alice)  # the praise's giver is never named
    assert by_id[f"feedback:note:{world.ids[ALICE_NOTE]}"]["kind"] == "own_note"
    assert by_id[f"feedback:agenda:{world.ids[AGENDA]}"]["kind"] == "checkin_agenda"
    assert by_id[f"feedback:action:{world.ids[ACTION]}"]["kind"] == "checkin_action"
    assert not [item for item in alice["items"] if item["kind"] == "written_feedback"]  # all by others
    # The deactivated person is refused; so is anyone the directory does not know.
    assert_problem(await world.feedback_sources("gone"), 403)
    stranger = world.auth(person_id=uuid.uuid4())
    params = {"person_id": world.seeded.alice}
    assert_problem(await world.feedback.get("/feedback/draft-sources", params=params, headers=stranger), 403)
    assert (await world.feedback.get("/feedback/draft-sources", params=params)).status_code == 401
    bad = await world.feedback.get(
        "/feedback/draft-sources",
        params={"person_id": world.seeded.alice, "from": "2026-12-31", "to": "2026-01-01"},
        headers=world.headers("alice"),
    )
    assert_problem(bad, 422)
    assert '"to"' in bad.text
    # About Bob, Alice gets the praise Bob received from her, and nothing of hers about Alice.
    about_bob = (await world.feedback_sources("alice", world.seeded.bob)).json()
    assert texts_in(about_bob, FEEDBACK_TEXTS) == {PRAISE_FOR_BOB}
