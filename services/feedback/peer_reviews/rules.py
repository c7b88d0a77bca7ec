"""The release rule of a 360 round, pure: what a subject, their manager and the score may learn.

Anonymity has to survive arithmetic, not only the API (docs/feedback.md, "Attacks"):

* nothing is released below k answers (``k`` at least 3), not even the count;
* the aggregate is computed once, over every answer of the round, when the round closes;
* every answer rates every competency, so each competency's mean has the same raters as the
  whole (no competency can be released over a smaller group than the round's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.peer_ratings import MIN_PEER_RATERS, peer_score


@dataclass(frozen=True)
class Release:
    score: float | None  # None: the round rates no competency (questions only)
    rater_count: int
    competency_scores: dict[str, float]


def effective_k(*asked: int) -> int:
    """The largest k any rule asks for, never below the floor of 3."""
    return max(MIN_PEER_RATERS, *asked)


def release(answers: Sequence[dict[str, int]], competencies: Sequence[str], k: int) -> Release | None:
    """The aggregate of a closed round, or None below k (then nothing at all is told)."""
    if len(answers) < effective_k(k):
        return None
    per_competency = {key: peer_score(sum(answer[key] for answer in answers) / len(answers)) for key in competencies}
    every = [value for answer in answers for key, value in answer.items() if key in competencies]
    overall = peer_score(sum(every) / len(every)) if every else None
    return Release(score=overall, rater_count=len(answers), competency_scores=per_competency)
