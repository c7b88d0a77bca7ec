"""Suggestions and the cycle contract: deterministic, local, no database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import date

import pytest
from pydantic import ValidationError

from services.goals.rules import Unit
from services.goals.suggestions import (
    CorpusGoal,
    DraftInput,
    KeyResultInput,
    LocalSuggestionProvider,
    Suggestions,
    TfIdfIndex,
    checkpoint_dates,
    provider,
    similar_goals,
    suggest_key_dates,
    suggest_milestones,
    tokens,
    use_provider,
)
from shared.cycles import (
    MAX_PARTICIPANTS_PER_REQUEST,
    GoalScoresRequested,
    chunk_request,
    score_event_id,
)

TODAY = date(2026, 3, 20)


def test_tokens_are_words_and_bigrams_without_stop_words() -> None:
    assert tokens("Reduce the churn of SMB customers") == [
        "reduce",
        "churn",
        "smb",
        "customers",
        "reduce churn",
        "churn smb",
        "smb customers",
    ]


def test_tfidf_ranks_the_closest_text_first() -> None:
    index = TfIdfIndex(["reduce customer churn", "hire two engineers", "reduce cloud costs"])
    scores = index.query("reduce churn of customers")
    assert scores.index(max(scores)) == 0
    assert scores[1] == 0.0
    assert 0 < scores[2] < scores[0]


def test_checkpoints_monthly_for_a_quarter_quarterly_for_a_year() -> None:
    assert checkpoint_dates(date(2026, 4, 1), date(2026, 6, 30)) == [
        date(2026, 5, 1),
        date(2026, 5, 31),
        date(2026, 6, 30),
    ]
    year = checkpoint_dates(date(2026, 1, 1), date(2026, 12, 31))
    assert len(year) == 4
    assert year[-1] == date(2026, 12, 31)
    assert checkpoint_dates(date(2026, 4, 1), date(2026, 4, 1)) == [date(2026, 4, 1)]


def test_milestones_interpolate_targets_up_to_the_due_date() -> None:
    kr_id = uuid.uuid4()
    draft = DraftInput(
        title="Grow weekly active users",
        period_start=date(2026, 4, 1),
        period_end=date(2026, 6, 30),
        due_date=date(2026, 6, 15),
        key_results=[
            KeyResultInput("Weekly active users", Unit.number, 1000, 1600, kr_id),
            KeyResultInput("Launch referral programme", Unit.boolean, 0, 1),
        ],
    )
    milestones = suggest_milestones(draft, today=TODAY)
    numbers = [m for m in milestones if m.key_result_id == kr_id]
    assert [m.target_value for m in numbers] == [1200.0, 1400.0, 1600.0]
    assert numbers[-1].due_date == date(2026, 6, 15)
    assert all(m.due_date <= date(2026, 6, 15) for m in milestones)
    booleans = [m for m in milestones if m.key_result_title == "Launch referral programme"]
    assert [(m.target_value, m.due_date) for m in booleans] == [(1.0, date(2026, 6, 15))]


def test_milestones_without_key_results_and_decreasing_targets() -> None:
    plain = suggest_milestones(DraftInput(title="x", due_date=date(2026, 5, 20)), today=TODAY)
    assert [m.title for m in plain] == ["Checkpoint 1 of 2: 50% done", "Checkpoint 2 of 2: 100% done"]
    assert plain[-1].due_date == date(2026, 5, 20)
    falling = DraftInput(
        title="Cut latency",
        period_start=date(2026, 4, 1),
        period_end=date(2026, 6, 30),
        key_results=[KeyResultInput("p95 ms", Unit.number, 800, 300)],
    )
    assert [m.target_value for m in suggest_milestones(falling, today=TODAY)] == [633.33, 466.67, 300.0]
    assert suggest_milestones(DraftInput(title="no date"), today=TODAY) == []


def test_key_dates_lie_inside_the_goal_time() -> None:
    draft = DraftInput(title="x", period_start=date(2026, 4, 1), period_end=date(2026, 6, 30))
    dates = suggest_key_dates(draft, today=TODAY)
    assert [d.date for d in dates] == [
        date(2026, 4, 1),
        date(2026, 4, 15),
        date(2026, 5, 16),
        date(2026, 6, 23),
        date(2026, 6, 30),
    ]
    short = suggest_key_dates(
        DraftInput(title="x", period_start=date(2026, 4, 1), due_date=date(2026, 4, 3)), today=TODAY
    )
    assert len({d.date for d in short}) == len(short)
    assert all(date(2026, 4, 1) <= d.date <= date(2026, 4, 3) for d in short)


CORPUS = [
    CorpusGoal(uuid.UUID(int=1), "Reduce customer churn to 3%", uses=40),
    CorpusGoal(uuid.UUID(int=2), "Reduce customer churn in SMB", uses=2),
    CorpusGoal(uuid.UUID(int=3), "Hire two senior engineers", uses=5),
    CorpusGoal(uuid.UUID(int=4), "Reduce cloud costs by 20%", uses=9),
]


def test_similar_goals_are_ranked_and_deterministic() -> None:
    draft = DraftInput(title="Reduce churn of our customers", description="especially SMB accounts")
    ranked = similar_goals(draft, CORPUS, limit=3)
    assert [goal.id.int for goal in ranked][:2] == [2, 1]
    assert all(goal.id.int != 3 for goal in ranked)  # nothing in common
    assert ranked == similar_goals(draft, list(reversed(CORPUS)), limit=3)
    assert similar_goals(draft, CORPUS, limit=1) == ranked[:1]
    assert similar_goals(DraftInput(title="x", exclude_id=uuid.UUID(int=1)), CORPUS[:1], limit=5) == []


def test_ties_go_to_the_more_used_goal() -> None:
    corpus = [
        CorpusGoal(uuid.UUID(int=1), "Ship billing", uses=1),
        CorpusGoal(uuid.UUID(int=2), "Ship billing", uses=7),
    ]
    assert [goal.uses for goal in similar_goals(DraftInput(title="ship billing v2"), corpus, limit=2)] == [7, 1]


class FakeModel:
    name = "fake-model"

    async def suggest(self, draft: DraftInput, corpus: Sequence[CorpusGoal], *, today: date, limit: int) -> Suggestions:
        return Suggestions(provider=self.name, notes=[draft.title])


def test_the_local_provider_is_the_default_and_another_can_be_plugged_in() -> None:
    assert isinstance(provider(), LocalSuggestionProvider)
    use_provider(FakeModel())
    try:
        result = asyncio.run(provider().suggest(DraftInput(title="t"), [], today=TODAY, limit=3))
        assert (result.provider, result.notes) == ("fake-model", ["t"])
    finally:
        use_provider(None)
    assert isinstance(provider(), LocalSuggestionProvider)


def test_suggestions_are_fast_over_a_large_corpus() -> None:
    import time

    corpus = [
        CorpusGoal(uuid.UUID(int=i), f"Goal number {i} about topic {i % 97} and area {i % 13}") for i in range(5000)
    ]
    started = time.perf_counter()
    result = asyncio.run(
        LocalSuggestionProvider().suggest(
            DraftInput(title="topic 42 in area 7", due_date=date(2026, 6, 30)), corpus, today=TODAY, limit=5
        )
    )
    assert time.perf_counter() - started < 2.0
    assert len(result.similar_goals) == 5


# ---------------------------------------------------------------------------- cycle contract


def test_requests_are_chunked() -> None:
    cycle = uuid.uuid4()
    people = [uuid.uuid4() for _ in range(2500)]
    parts = chunk_request(cycle, date(2026, 1, 1), date(2026, 6, 30), people + people[:10])
    assert [len(part.participant_ids) for part in parts] == [1000, 1000, 500]
    assert [(part.chunk, part.chunks) for part in parts] == [(1, 3), (2, 3), (3, 3)]
    assert [pid for part in parts for pid in part.participant_ids] == people
    assert len(chunk_request(cycle, date(2026, 1, 1), date(2026, 6, 30), [])) == 1


def test_request_validation() -> None:
    base = {"cycle_id": str(uuid.uuid4()), "period_start": "2026-01-01", "period_end": "2026-06-30"}
    assert GoalScoresRequested.model_validate({**base, "participant_ids": []}).chunks == 1
    with pytest.raises(ValidationError):
        GoalScoresRequested.model_validate({**base, "period_end": "2025-12-31", "participant_ids": []})
    with pytest.raises(ValidationError):
        GoalScoresRequested.model_validate({**base, "participant_ids": [], "chunk": 3, "chunks": 2})
    too_many = [str(uuid.uuid4()) for _ in range(MAX_PARTICIPANTS_PER_REQUEST + 1)]
    with pytest.raises(ValidationError):
        GoalScoresRequested.model_validate({**base, "participant_ids": too_many})


def test_score_event_ids_are_stable_per_computation() -> None:
    cycle, person = uuid.uuid4(), uuid.uuid4()
    assert score_event_id(cycle, person, "v1", 1) == score_event_id(cycle, person, "v1", 1)
    assert score_event_id(cycle, person, "v1", 1) != score_event_id(cycle, person, "v1", 2)
    assert score_event_id(cycle, person, "v1", 1) != score_event_id(cycle, person, "v2", 1)
