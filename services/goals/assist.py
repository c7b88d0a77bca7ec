"""Goal writing help: a SMART rewrite from a draft title, by a language model when one is configured.

The model (``shared.llm``) is asked for a rewrite, key results, milestones and a parent goal
picked from the candidates the person may see. Its answer is shown only when it parses and
passes the SMART check (``rules.smart_check``) and names only offered parents; otherwise it
is sent back once, and then the local suggester answers (milestone checkpoints, the SMART
check of the draft, the same parent candidates) and says why. Every request is kept in the
audit log the person reads (``GET /goals/assist/audit``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.models import Goal, LLMAudit, Person
from services.goals.repository import GoalFilters, GoalRepository, Viewer
from services.goals.rules import (
    LEVEL_RANK,
    GoalDraft,
    KeyResultDraft,
    Level,
    MilestoneDraft,
    Status,
    Unit,
    Visibility,
    smart_check,
)
from services.goals.schemas import PeriodInput, SmartReport, SuggestedMilestoneRead, Title
from services.goals.service import smart_report
from services.goals.suggestions import DraftInput, TfIdfIndex, suggest_milestones
from shared.auth import Principal
from shared.errors import Forbidden
from shared.llm import (
    FALLBACK_NOTES,
    ChatModel,
    Completion,
    FallbackReason,
    audit_row,
    calls_today,
    load_prompt,
    prompt_json,
)

FEATURE = "goal_assist"
PROMPT = load_prompt("goal_assist", 1)
PARENT_CANDIDATES = 8
CANDIDATE_SCAN = 300  # visible goals read per level to rank the candidates from


class AssistRequest(PeriodInput):
    title: Title
    description: str | None = Field(None, max_length=2000)
    level: Level = Level.individual
    due_date: date | None = None


class KeyResultSuggestion(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    unit: Unit
    start_value: float = Field(allow_inf_nan=False)
    target_value: float = Field(allow_inf_nan=False)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


class MilestoneSuggestion(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    due_date: date


class GoalSuggestion(BaseModel):
    """The model's answer; also what the API shows once it passed every check."""

    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    key_results: list[KeyResultSuggestion] = Field(min_length=1, max_length=5)
    milestones: list[MilestoneSuggestion] = Field(default_factory=list, max_length=6)
    aligned_to_id: uuid.UUID | None = None


class ParentCandidate(BaseModel):
    id: uuid.UUID
    level: Level
    title: str
    visibility: Visibility
    similarity: float
    sent_to_model: bool = Field(
        description="Private goals of others (your reports') are offered to you but never sent to the model."
    )


class AssistRead(BaseModel):
    provider: str = Field(description="`model` when the suggestion comes from the language model, else `local`.")
    fallback_reason: FallbackReason | None = Field(None, description="Why the local suggester answered.")
    prompt_version: str
    audit_id: uuid.UUID = Field(description="The audit-log entry of this request (`GET /goals/assist/audit`).")
    suggestion: GoalSuggestion | None = Field(None, description="A SMART rewrite; shown only when it passes the check.")
    suggestion_smart: SmartReport | None = None
    draft_smart: SmartReport = Field(description="The SMART check of the draft as given.")
    milestones: list[SuggestedMilestoneRead] = Field(description="Local checkpoints inside the goal's time.")
    parents: list[ParentCandidate] = Field(description="Goals you may see and align to, most similar first.")
    notes: list[str]


def _draft(
    data: AssistRequest, start: date | None, end: date | None, suggestion: GoalSuggestion | None, aligned: bool
) -> GoalDraft:
    if suggestion is None:
        return GoalDraft(
            title=data.title,
            level=data.level,
            description=data.description,
            period_start=start,
            period_end=end,
            due_date=data.due_date,
            aligned=aligned,
        )
    return GoalDraft(
        title=suggestion.title,
        level=data.level,
        description=suggestion.description,
        period_start=start,
        period_end=end,
        due_date=data.due_date,
        aligned=aligned,
        key_results=[KeyResultDraft(k.title, k.unit, k.start_value, k.target_value) for k in suggestion.key_results],
        milestones=[MilestoneDraft(m.title, m.due_date) for m in suggestion.milestones],
    )


def suggestion_problems(
    suggestion: GoalSuggestion,
    data: AssistRequest,
    start: date | None,
    end: date | None,
    candidates: Sequence[ParentCandidate],
    today: date,
) -> list[str]:
    """Why a suggestion may not be shown: the SMART check and the rules of the prompt."""
    problems: list[str] = []
    allowed = {candidate.id for candidate in candidates if candidate.sent_to_model}
    if suggestion.aligned_to_id is not None and suggestion.aligned_to_id not in allowed:
        problems.append(f"aligned_to_id {suggestion.aligned_to_id} is not one of the candidate parents")
    for number, kr in enumerate(suggestion.key_results):
        if kr.unit is Unit.currency and kr.currency is None:
            problems.append(f"key_results.{number}.currency is required for a currency key result")
        if kr.unit is Unit.boolean and (kr.start_value, kr.target_value) != (0, 1):
            problems.append(f"key_results.{number}: a boolean key result goes from 0 to 1")
    first = start or today
    for number, milestone in enumerate(suggestion.milestones):
        if milestone.due_date < first:
            problems.append(f"milestones.{number}.due_date {milestone.due_date} is before {first}")
    # Alignment is the person's pick among the candidates: with none to pick from, "relevant" is not asked of it.
    aligned = suggestion.aligned_to_id is not None or not allowed
    issues = smart_check(_draft(data, start, end, suggestion, aligned))
    problems += [f"SMART {issue.property.value}: {issue.message}" for issue in issues]
    return problems


class GoalAssist:
    def __init__(self, session: AsyncSession, *, today: date) -> None:
        self.session = session
        self.goals = GoalRepository.from_session(session)
        self.today = today

    async def candidates(
        self, data: AssistRequest, viewer: Viewer, start: date | None, end: date | None
    ) -> list[ParentCandidate]:
        """Goals the person may see and align a goal of this level to, most similar to the draft first."""
        if data.level is Level.company:
            return []
        goals: list[Goal] = []
        for level in Level:
            if LEVEL_RANK[level] > LEVEL_RANK[data.level]:
                continue
            filters = GoalFilters(level=level, period_start=start, period_end=end)
            rows, _ = await self.goals.search(
                viewer=viewer, filters=filters, today=self.today, limit=CANDIDATE_SCAN, offset=0
            )
            goals += [
                goal
                for goal in rows
                if goal.status_override != Status.cancelled.value
                and not (level is data.level and goal.owner_id == viewer.person_id)
            ]
        if not goals:
            return []
        index = TfIdfIndex([goal.title for goal in goals])
        scores = index.query(f"{data.title} {data.description or ''}")
        ranked = sorted(
            zip(goals, scores, strict=True),
            key=lambda pair: (-pair[1], LEVEL_RANK[Level(pair[0].level)], pair[0].title.lower(), str(pair[0].id)),
        )
        return [
            ParentCandidate(
                id=goal.id,
                level=Level(goal.level),
                title=goal.title,
                visibility=Visibility(goal.visibility),
                similarity=round(score, 4),
                sent_to_model=goal.visibility == Visibility.public.value or goal.owner_id == viewer.person_id,
            )
            for goal, score in ranked[:PARENT_CANDIDATES]
        ]

    async def assist(
        self,
        data: AssistRequest,
        principal: Principal,
        viewer: Viewer,
        start: date | None,
        end: date | None,
        model: ChatModel | None,
        enabled: bool,
    ) -> AssistRead:
        me = await self.session.get(Person, principal.person_id)
        if me is not None and not me.active:
            raise Forbidden("You are no longer active in the directory.")
        candidates = await self.candidates(data, viewer, start, end)
        payload = {
            "draft": {
                "title": data.title,
                "description": data.description,
                "level": data.level.value,
                "period_start": start,
                "period_end": end,
                "due_date": data.due_date,
                "today": self.today,
            },
            "candidate_parents": [
                {"id": c.id, "level": c.level.value, "title": c.title} for c in candidates if c.sent_to_model
            ],
        }
        completion: Completion[GoalSuggestion] | None = None
        reason: FallbackReason | None = None
        if model is None:
            reason = FallbackReason.off
        elif not enabled:
            reason = FallbackReason.feature_off
        else:
            completion = await model.complete(
                system=PROMPT.text,
                user=prompt_json(payload),
                schema=GoalSuggestion,
                used_today=await calls_today(self.session, LLMAudit, principal.person_id),
                check=lambda s: suggestion_problems(s, data, start, end, candidates, self.today),
            )
            reason = completion.reason
        row = audit_row(
            LLMAudit,
            person_id=principal.person_id,
            feature=FEATURE,
            subject=data.title[:200],
            prompt=PROMPT,
            completion=completion,
            model_name=None if model is None else model.model,
            reason=reason,
        )
        self.session.add(row)
        await self.session.flush()
        suggestion = completion.value if completion is not None else None
        notes: list[str] = []
        if reason is not None:
            notes.append(FALLBACK_NOTES[reason])
        if not candidates and data.level is not Level.company:
            notes.append("No goal you may see could be a parent of this one in its period.")
        local = suggest_milestones(
            DraftInput(title=data.title, period_start=start, period_end=end, due_date=data.due_date), today=self.today
        )
        if not local:
            notes.append("Set a due date or a period to get milestones.")
        draft_smart = smart_report(smart_check(_draft(data, start, end, None, False)))
        suggestion_smart = None
        if suggestion is not None:
            aligned = suggestion.aligned_to_id is not None or not any(c.sent_to_model for c in candidates)
            suggestion_smart = smart_report(smart_check(_draft(data, start, end, suggestion, aligned)))
        return AssistRead(
            provider="local" if suggestion is None else "model",
            fallback_reason=reason,
            prompt_version=PROMPT.id,
            audit_id=row.id,
            suggestion=suggestion,
            suggestion_smart=suggestion_smart,
            draft_smart=draft_smart,
            milestones=[SuggestedMilestoneRead.model_validate(m) for m in local],
            parents=candidates,
            notes=notes,
        )
