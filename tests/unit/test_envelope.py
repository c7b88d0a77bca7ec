from __future__ import annotations

import pytest

from shared.events import CloudEvent, event_type, stream_name


def test_subjects_follow_the_service_entity_verb_scheme() -> None:
    assert event_type("goals", "goal", "created") == "meritloop.goals.goal.created"
    assert stream_name("rewards") == "MERITLOOP_REWARDS"


@pytest.mark.parametrize("token", ["Goals", "goal.created", "", "a b", "*", ">"])
def test_subject_tokens_are_refused_when_they_would_break_wildcards(token: str) -> None:
    with pytest.raises(ValueError, match="subject token"):
        event_type("goals", token, "created")


def test_envelope_round_trips_as_cloudevents_json() -> None:
    event = CloudEvent(source="/meritloop/goals", type="meritloop.goals.goal.created", data={"id": "1"})
    body = event.model_dump(mode="json")
    assert body["specversion"] == "1.0"
    assert body["datacontenttype"] == "application/json"
    assert set(body) >= {"id", "source", "type", "time", "data"}
    assert CloudEvent.from_bytes(event.to_bytes()) == event
