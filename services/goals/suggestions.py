"""Suggestions for a draft goal: milestones, key dates and similar goals, computed locally.

Everything here is deterministic and needs no network: milestones spread evenly over the
goal's time, key dates, and TF-IDF cosine similarity over word uni- and bigrams (stdlib
only). ``SuggestionProvider`` is the seam for another provider (a language model, say);
none ships, and the local one is used unless code calls ``use_provider``.
"""

from __future__ import annotations

import itertools
import math
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from services.goals.rules import Unit, goal_end

# ---------------------------------------------------------------------------- text similarity

_STOP = "a an and are as at be by for from has have in into is it its of on or our so that the their this to was we"
STOP_WORDS = frozenset([*_STOP.split(" "), "will", "with", "us", "all", "per", "via"])
_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case words without stop words, then their bigrams."""
    words = [word for word in _TOKEN.findall(text.lower()) if word not in STOP_WORDS]
    return words + [f"{first} {second}" for first, second in itertools.pairwise(words)]


class TfIdfIndex:
    """TF-IDF vectors (sublinear tf, smoothed idf, L2-normalised) and cosine ranking."""

    def __init__(self, documents: Sequence[str]) -> None:
        counts = [Counter(tokens(document)) for document in documents]
        document_frequency: Counter[str] = Counter()
        for count in counts:
            document_frequency.update(count.keys())
        total = len(documents)
        self._idf = {term: math.log((1 + total) / (1 + df)) + 1.0 for term, df in document_frequency.items()}
        self._vectors = [self._vector(count) for count in counts]

    def _vector(self, count: Counter[str]) -> dict[str, float]:
        weights = {term: (1.0 + math.log(tf)) * self._idf.get(term, 0.0) for term, tf in count.items()}
        norm = math.sqrt(sum(value * value for value in weights.values()))
        return {term: value / norm for term, value in weights.items() if value} if norm else {}

    def query(self, text: str) -> list[float]:
        """Cosine similarity of ``text`` to every document, in document order."""
        vector = self._vector(Counter(tokens(text)))
        return [sum(value * document.get(term, 0.0) for term, value in vector.items()) for document in self._vectors]


# ---------------------------------------------------------------------------- inputs and outputs


@dataclass(frozen=True, slots=True)
class KeyResultInput:
    title: str
    unit: Unit
    start: float
    target: float
    id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class DraftInput:
    title: str
    description: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    due_date: date | None = None
    key_results: Sequence[KeyResultInput] = ()
    exclude_id: uuid.UUID | None = None  # the goal itself, when it is already stored


@dataclass(frozen=True, slots=True)
class CorpusGoal:
    """A public goal of the organisation; identical titles are one entry, ``uses`` counts them."""

    id: uuid.UUID
    title: str
    uses: int = 1


@dataclass(frozen=True, slots=True)
class SuggestedMilestone:
    title: str
    due_date: date
    key_result_id: uuid.UUID | None = None
    key_result_title: str | None = None
    target_value: float | None = None


@dataclass(frozen=True, slots=True)
class KeyDate:
    date: date
    label: str


@dataclass(frozen=True, slots=True)
class SimilarGoal:
    id: uuid.UUID
    title: str
    similarity: float
    uses: int


@dataclass(frozen=True, slots=True)
class Suggestions:
    provider: str
    milestones: list[SuggestedMilestone] = field(default_factory=list)
    key_dates: list[KeyDate] = field(default_factory=list)
    similar_goals: list[SimilarGoal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class SuggestionProvider(Protocol):
    """Proposes milestones, key dates and similar goals for a draft (see ``LocalSuggestionProvider``)."""

    name: str

    async def suggest(
        self, draft: DraftInput, corpus: Sequence[CorpusGoal], *, today: date, limit: int
    ) -> Suggestions: ...


# ---------------------------------------------------------------------------- milestones and dates

MONTHLY_UP_TO_DAYS = 184  # up to about half a year: a checkpoint a month; longer: one a quarter
MONTH_DAYS = 30
QUARTER_DAYS = 91
MAX_CHECKPOINTS = 12
SIMILARITY_FLOOR = 0.05


def checkpoint_dates(start: date, end: date) -> list[date]:
    """Evenly spread checkpoint dates after ``start``, the last one on ``end``."""
    span = (end - start).days
    if span <= 0:
        return [end]
    step = MONTH_DAYS if span <= MONTHLY_UP_TO_DAYS else QUARTER_DAYS
    count = min(max(math.floor(span / step + 0.5), 1), MAX_CHECKPOINTS)  # half rounds up
    return [start + timedelta(days=round(span * number / count)) for number in range(1, count + 1)]


def _interpolate(start: float, target: float, number: int, count: int) -> float:
    return round(start + (target - start) * number / count, 2)


def suggest_milestones(draft: DraftInput, *, today: date) -> list[SuggestedMilestone]:
    """Checkpoints from the period start (or today) to the due date, with target values per key result."""
    end = goal_end(draft.period_end, draft.due_date)
    if end is None:
        return []
    start = draft.period_start or min(today, end)
    dates = checkpoint_dates(start, end)
    count = len(dates)
    milestones: list[SuggestedMilestone] = []
    for number, due in enumerate(dates, start=1):
        if not draft.key_results:
            share = round(100 * number / count)
            milestones.append(SuggestedMilestone(title=f"Checkpoint {number} of {count}: {share}% done", due_date=due))
            continue
        for kr in draft.key_results:
            if kr.unit is Unit.boolean:
                if number < count:
                    continue
                value, title = 1.0, f"{kr.title}: done"
            else:
                value = _interpolate(kr.start, kr.target, number, count)
                title = f"{kr.title}: reach {value:g}"
            milestones.append(
                SuggestedMilestone(
                    title=title, due_date=due, key_result_id=kr.id, key_result_title=kr.title, target_value=value
                )
            )
    return milestones


def suggest_key_dates(draft: DraftInput, *, today: date) -> list[KeyDate]:
    """Kick-off, first check-in, mid-point review, last check-in and the due date (inside the goal's time)."""
    end = goal_end(draft.period_end, draft.due_date)
    if end is None:
        return []
    start = draft.period_start or min(today, end)
    span = (end - start).days
    candidates = [
        KeyDate(start, "Kick-off: agree the key results and their owners"),
        KeyDate(start + timedelta(days=min(14, span)), "First check-in: confirm the baseline values"),
        KeyDate(start + timedelta(days=span // 2), "Mid-point review: re-plan if the goal is at risk"),
        KeyDate(end - timedelta(days=min(7, span)), "Last check-in before the due date"),
        KeyDate(end, "Due date: final values and self-assessment"),
    ]
    seen: set[date] = set()
    dates: list[KeyDate] = []
    for key_date in sorted(candidates, key=lambda item: item.date):
        if key_date.date not in seen:
            seen.add(key_date.date)
            dates.append(key_date)
    return dates


def similar_goals(draft: DraftInput, corpus: Sequence[CorpusGoal], *, limit: int) -> list[SimilarGoal]:
    """The corpus goals most similar to the draft's title and description, best first.

    Ties go to the goal used by more people, then to the title in alphabetical order.
    """
    candidates = [goal for goal in corpus if goal.id != draft.exclude_id]
    if not candidates or limit <= 0:
        return []
    index = TfIdfIndex([goal.title for goal in candidates])
    query = f"{draft.title} {draft.description or ''}"
    scored = [
        SimilarGoal(goal.id, goal.title, round(similarity, 4), goal.uses)
        for goal, similarity in zip(candidates, index.query(query), strict=True)
        if similarity >= SIMILARITY_FLOOR
    ]
    scored.sort(key=lambda item: (-item.similarity, -item.uses, item.title.lower(), str(item.id)))
    return scored[:limit]


class LocalSuggestionProvider:
    """The default provider: the rules above, in process, deterministic."""

    name = "local"

    async def suggest(self, draft: DraftInput, corpus: Sequence[CorpusGoal], *, today: date, limit: int) -> Suggestions:
        notes: list[str] = []
        if goal_end(draft.period_end, draft.due_date) is None:
            notes.append("Set a due date or a period to get milestones and key dates.")
        return Suggestions(
            provider=self.name,
            milestones=suggest_milestones(draft, today=today),
            key_dates=suggest_key_dates(draft, today=today),
            similar_goals=similar_goals(draft, corpus, limit=limit),
            notes=notes,
        )


_provider: SuggestionProvider = LocalSuggestionProvider()


def use_provider(provider: SuggestionProvider | None) -> None:
    """Install another provider (e.g. one backed by a language model); ``None`` restores the local one.

    There is deliberately no setting for this: a deployment that wants a model wires it in code.
    """
    global _provider
    _provider = provider or LocalSuggestionProvider()


def provider() -> SuggestionProvider:
    return _provider
