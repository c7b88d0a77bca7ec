"""Review drafts built only from what the writer of a task may read, every sentence citing a source.

Sources are what the reviews service holds and shows on the task's form (the goal score and
each scored goal's id, weight and attainment from the goals service's ``cycle-score.computed``
events, the writer's own saved answers and, for a manager review, the employee's submitted
self-assessment) and, when the writer passes them, **attested sources**: the bundles the goals
and feedback services answered the writer on ``GET /goals/draft-sources`` and ``GET
/feedback/draft-sources`` (goal titles, key results, check-ins, praise received, written
feedback and 1:1 items the writer may read, the writer's own notes). Each bundle is verified
(``shared.attestation``): signed by a known issuer, not expired, fetched by this writer, about
the person of the task; one that fails is a 422 naming the field, and nothing is stored. Never
peer feedback (not even its aggregate), pay or anything of other people. The language model
(``shared.llm``) writes the draft when one is configured; its answer is used only when every
sentence cites given sources and names a form item, else it is sent back once and then the
local writer answers and says why.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.cycles.repository import OPEN_STATUSES, TaskRepository
from services.reviews.cycles.schemas import Answer, Answers, FormItem, TaskForm
from services.reviews.cycles.service import InboxService, is_hr, label_of, points_of
from services.reviews.directory.repository import PersonRepository
from services.reviews.drafts.repository import FEATURE, SUMMARY_FEATURE, DraftRepository
from services.reviews.drafts.schemas import DraftRead, DraftSentence, ModelDraft, Source, SourceKind, SummaryRead
from services.reviews.models import LLMAudit, ReviewCycle
from shared.attestation import AttestationRefused, SourceBundle, verify_bundle
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.llm import FALLBACK_NOTES, ChatModel, Completion, FallbackReason, audit_row, calls_today, load_prompt
from shared.llm import prompt_json as to_prompt
from workflows.models import Step

PROMPT = load_prompt("review_draft", 2)
DRAFTED_STEPS = (Step.self_assessment.value, Step.manager_review.value)
MAX_SENTENCES = 12

GOALS_UNAVAILABLE = (
    "Goal titles, descriptions, key results, milestones and check-ins: reviews holds only goal ids, weights and "
    "progress. Pass the bundle of GET /goals/draft-sources (fetched with your own token) as attested_sources."
)
FEEDBACK_UNAVAILABLE = (
    "Praise received, written feedback you may read, 1:1 talking points and action items, and your own 1:1 "
    "notes: reviews never holds them. Pass the bundle of GET /feedback/draft-sources (fetched with your own "
    "token) as attested_sources."
)
PEER_NEVER = "Peer feedback (360 and upward answers, peer ratings, their aggregate): never used, by design."
# What a draft lacks when no attested sources are passed.
UNAVAILABLE_SOURCES = [GOALS_UNAVAILABLE, FEEDBACK_UNAVAILABLE, PEER_NEVER]


def unavailable_sources(issuers: set[str]) -> list[str]:
    """What the draft could not draw on, given the issuers of the bundles it was passed."""
    missing = [] if "goals" in issuers else [GOALS_UNAVAILABLE]
    if "feedback" not in issuers:
        missing.append(FEEDBACK_UNAVAILABLE)
    return [*missing, PEER_NEVER]


def attested_sources(
    keys: Mapping[str, Ed25519PublicKey],
    bundles: Sequence[SourceBundle],
    *,
    reader_id: uuid.UUID,
    subject_id: uuid.UUID,
) -> tuple[list[Source], set[str]]:
    """The verified bundles' items as sources (and their issuers); a bad bundle is a 422 naming its field."""
    sources: list[Source] = []
    seen: set[str] = set()
    issuers: set[str] = set()
    for number, bundle in enumerate(bundles):
        try:
            items = verify_bundle(keys, bundle, reader_id=reader_id, subject_id=subject_id)
        except AttestationRefused as exc:
            field = f"attested_sources.{number}.{exc.field}"
            errors = [{"field": field, "in": "body", "message": exc.message}]
            raise ValidationFailed(f"{field}: {exc.message}", errors) from None
        issuer = bundle.attestation.issuer
        issuers.add(issuer)
        for item in items:
            if item.id not in seen:
                seen.add(item.id)
                sources.append(Source(id=item.id, kind=SourceKind(item.kind.value), text=item.text, issuer=issuer))
    return sources, issuers


# What the local writer copies word for word into a form that managers above and HR read too. Private
# notes, others' written feedback and the 1:1 agenda are left to the model (told to summarise) and to
# the writer, who sees them among the sources.
VERBATIM_KINDS = frozenset(
    {
        SourceKind.goal,
        SourceKind.key_result,
        SourceKind.milestone,
        SourceKind.goal_check_in,
        SourceKind.praise,
        SourceKind.checkin_action,
    }
)


def attested_sentences(item: str, sources: Sequence[Source], room: int) -> list[DraftSentence]:
    """One plain sentence per attested source, taking each kind in turn so one kind cannot crowd out the rest."""
    by_kind: dict[SourceKind, list[Source]] = defaultdict(list)
    for source in sources:
        if source.issuer is not None and source.kind in VERBATIM_KINDS:
            by_kind[source.kind].append(source)
    queues = list(by_kind.values())
    picked: list[DraftSentence] = []
    while len(picked) < room and any(queues):
        for queue in queues:
            if queue and len(picked) < room:
                source = queue.pop(0)
                picked.append(DraftSentence(item=item, text=source.text, sources=[source.id]))
    return picked


def _items(form: TaskForm) -> list[FormItem]:
    return [item for section in form.sections for item in section.items]


def _label(item: FormItem | None, value: float | None) -> str | None:
    if value is None:
        return None
    for point in (item.scale or []) if item is not None else []:
        if point.value == value:
            return f"{point.label} ({value:g})"
    return f"{value:g}"


def _answer_text(item: FormItem | None, answer: Answer) -> str:
    question = (item.text or item.name or answer.item) if item is not None else answer.item
    parts = [f"{question}:"]
    label = _label(item, answer.value)
    if label is not None:
        parts.append(f"rated {label}.")
    if answer.comment:
        parts.append(f"Comment: {answer.comment}")
    return " ".join(parts)


def sources_of(form: TaskForm) -> list[Source]:
    """What the writer may read on this form, as citable sources; peer scores are left out on purpose."""
    by_key = {item.key: item for item in _items(form)}
    sources: list[Source] = []
    if form.goal_score is not None:
        sources.append(
            Source(
                id="goal-score",
                kind=SourceKind.goal_score,
                text=f"Goal score for the cycle period: {form.goal_score:g} out of 100.",
            )
        )
    for goal in form.goals:
        weight = "no weight" if goal.weight is None else f"weight {goal.weight:g}"
        sources.append(
            Source(
                id=f"goal:{goal.goal_id}",
                kind=SourceKind.goal,
                text=f"Goal {goal.goal_id}: {goal.progress:g} % attained, {weight}.",
            )
        )
    for answer in form.draft.answers if form.draft else []:
        if answer.value is None and not answer.comment:
            continue
        text = _answer_text(by_key.get(answer.item), answer)
        sources.append(Source(id=f"own:{answer.item}", kind=SourceKind.own_answer, text=text))
    if form.self_assessment is not None:
        for answer in form.self_assessment.answers:
            text = "Self-assessment, " + _answer_text(by_key.get(answer.item), answer)
            sources.append(Source(id=f"self:{answer.item}", kind=SourceKind.self_assessment, text=text))
        if form.self_assessment.comment:
            text = f"Self-assessment, overall comment: {form.self_assessment.comment}"
            sources.append(Source(id="self:comment", kind=SourceKind.self_assessment, text=text))
    return sources


def draft_problems(draft: ModelDraft, items: Sequence[FormItem], sources: Sequence[Source]) -> list[str]:
    """Why a model's draft may not be shown: a sentence without a source, an unknown source or item."""
    keys = {item.key for item in items}
    known = {source.id for source in sources}
    problems: list[str] = []
    for number, sentence in enumerate(draft.sentences):
        if sentence.item not in keys:
            problems.append(f"sentences.{number}.item '{sentence.item}' is not one of the item keys")
        unknown = [source for source in sentence.sources if source not in known]
        if unknown:
            problems.append(f"sentences.{number}.sources {unknown} are not among the given source ids")
    return problems


def local_draft(step: str, items: Sequence[FormItem], sources: Sequence[Source], form: TaskForm) -> list[DraftSentence]:
    """A plain, deterministic draft: one sentence per source, first person for a self-assessment."""
    if not items:
        return []
    keys = {item.key for item in items}
    general = next((item.key for item in items if item.kind == "free_text"), items[0].key)
    own = step == Step.self_assessment.value
    sentences: list[DraftSentence] = []
    if form.goal_score is not None:
        who = "My" if own else "Your"
        text = f"{who} goal score for the cycle period is {form.goal_score:g} out of 100."
        sentences.append(DraftSentence(item=general, text=text, sources=["goal-score"]))
    for goal in form.goals:
        weight = "" if goal.weight is None else f" (weight {goal.weight:g})"
        who = "I" if own else "You"
        text = f"{who} reached {goal.progress:g} % of goal {str(goal.goal_id)[:8]}{weight}."
        sentences.append(DraftSentence(item=general, text=text, sources=[f"goal:{goal.goal_id}"]))
    by_key = {item.key: item for item in items}
    if form.self_assessment is not None and not own:
        for answer in form.self_assessment.answers:
            label = _label(by_key.get(answer.item), answer.value)
            if label is None:
                continue
            question = by_key[answer.item].text if answer.item in by_key else answer.item
            item = answer.item if answer.item in keys else general
            text = f"You rated yourself {label} on '{question}'."
            sentences.append(DraftSentence(item=item, text=text, sources=[f"self:{answer.item}"]))
    known = {source.id for source in sources}
    sentences = [sentence for sentence in sentences if set(sentence.sources) <= known][:MAX_SENTENCES]
    return sentences + attested_sentences(general, sources, MAX_SENTENCES - len(sentences))


def as_answers(sentences: Sequence[DraftSentence], draft: Answers | None) -> list[Answer]:
    """The sentences per item as comments; a value already saved in the draft is kept."""
    texts: dict[str, list[str]] = defaultdict(list)
    for sentence in sentences:
        texts[sentence.item].append(sentence.text.strip())
    values = {answer.item: answer.value for answer in (draft.answers if draft else [])}
    return [
        Answer(item=item, value=values.get(item), comment=" ".join(parts)[:10_000]) for item, parts in texts.items()
    ]


class DraftService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.inbox = InboxService(session)
        self.people = PersonRepository.from_session(session)

    async def generate(
        self,
        task_id: str,
        principal: Principal,
        model: ChatModel | None,
        enabled: bool,
        *,
        keys: Mapping[str, Ed25519PublicKey],
        bundles: Sequence[SourceBundle] = (),
    ) -> DraftRead:
        access = await self.inbox.access(task_id, principal)  # 404 for whoever may not read the task
        task = access.task
        if not access.may_write:
            raise Forbidden("Only the person who writes this task may ask for a draft of it.")
        person = await self.people.get(principal.person_id)
        if person is not None and not person.active:
            raise Forbidden("You are no longer active in the directory.")
        if task.step not in DRAFTED_STEPS:
            raise Conflict(f"Drafts are written for self-assessments and manager reviews, not a {task.step} task.")
        if task.status not in OPEN_STATUSES:
            raise Conflict(f"The task is {task.status}: there is nothing left to draft.")
        # Before anything is read or stored: a bad bundle is the caller's error, and the draft is not made.
        attested, issuers = attested_sources(keys, bundles, reader_id=principal.person_id, subject_id=task.person_id)
        form = await self.inbox.form(access)
        items = _items(form)
        sources = sources_of(form) + attested
        notes: list[str] = []
        completion: Completion[ModelDraft] | None = None
        reason: FallbackReason | None = None
        if not sources:
            notes.append("There is nothing on this form yet to base a draft on.")
        elif model is None:
            reason = FallbackReason.off
        elif not enabled:
            reason = FallbackReason.feature_off
        else:
            payload = {
                "step": task.step,
                "items": [{"key": item.key, "text": item.text or item.name or item.key} for item in items],
                "sources": [{"id": source.id, "text": source.text} for source in sources],
            }
            completion = await model.complete(
                system=PROMPT.text,
                user=to_prompt(payload),
                schema=ModelDraft,
                used_today=await calls_today(self.session, LLMAudit, principal.person_id),
                check=lambda draft: draft_problems(draft, items, sources),
            )
            reason = completion.reason
        row = audit_row(
            LLMAudit,
            person_id=principal.person_id,
            feature=FEATURE,
            subject=task.id,
            prompt=PROMPT,
            completion=completion,
            model_name=None if model is None else model.model,
            reason=reason,
        )
        self.session.add(row)
        await self.session.flush()
        if reason is not None:
            notes.append(FALLBACK_NOTES[reason])
        answered = completion.value if completion is not None else None
        sentences = answered.sentences if answered is not None else local_draft(task.step, items, sources, form)
        notes.append("A draft is a starting point: edit it, then save and submit it as your own.")
        return DraftRead(
            task_id=task.id,
            step=task.step,
            provider="local" if answered is None else "model",
            fallback_reason=reason,
            prompt_version=PROMPT.id,
            audit_id=row.id,
            sentences=sentences,
            answers=as_answers(sentences, form.draft),
            sources=sources,
            unavailable_sources=unavailable_sources(issuers),
            notes=notes,
        )


SUMMARY_PROMPT = load_prompt("year_summary", 2)
SUMMARY_ITEM = "summary"


def _answers_text(kind: str, cycle: ReviewCycle, draft: dict[str, object] | None) -> list[tuple[str, str]]:
    """``(key, text)`` per answer of a submitted task, the key naming the item."""
    if not draft:
        return []
    answers = Answers.model_validate(draft)
    out = []
    for answer in answers.answers:
        parts = [f"{kind} in {cycle.name}, item {answer.item}:"]
        if answer.value is not None:
            parts.append(f"rated {answer.value:g}.")
        if answer.comment:
            parts.append(f"Comment: {answer.comment}")
        if len(parts) > 1:
            out.append((answer.item, " ".join(parts)))
    if answers.comment:
        out.append(("comment", f"{kind} in {cycle.name}, overall comment: {answers.comment}"))
    return out


class YearSummaryService:
    """A manager's summary of a report's year, from the review cycles that ended in it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.people = PersonRepository.from_session(session)
        self.drafts = DraftRepository.from_session(session)
        self.tasks = TaskRepository.from_session(session)

    async def _check_access(self, person_id: uuid.UUID, principal: Principal) -> None:
        person = await self.people.get(person_id)
        chain = await self.people.manager_chain_ids(person_id) if person is not None else []
        if person is None or (
            principal.person_id not in chain and principal.person_id != person_id and not is_hr(principal)
        ):
            raise NotFound(f"No person with id {person_id}.")  # not theirs: do not confirm the person exists
        if principal.person_id not in chain or not principal.has_any(Role.manager):
            raise Forbidden("Only the person's managers may ask for a summary of their year.")
        me = await self.people.get(principal.person_id)
        if me is not None and not me.active:
            raise Forbidden("You are no longer active in the directory.")

    async def sources(self, person_id: uuid.UUID, year: int) -> list[Source]:
        sources: list[Source] = []
        for cycle, participant in await self.drafts.participations(person_id, year):
            prefix = f"cycle:{cycle.id}"
            if participant.goal_score is not None:
                text = f"{cycle.name}: goal score {participant.goal_score:g} out of 100."
                sources.append(Source(id=f"{prefix}:goal-score", kind=SourceKind.goal_score, text=text))
            for goal in participant.goal_inputs or []:
                weight = goal.get("weight")
                shown = "no weight" if weight is None else f"weight {float(str(weight)):g}"
                text = f"{cycle.name}: goal {goal['goal_id']}: {float(str(goal['progress'])):g} % attained, {shown}."
                sources.append(Source(id=f"{prefix}:goal:{goal['goal_id']}", kind=SourceKind.goal, text=text))
            if participant.final_rating is not None:
                label = label_of(points_of(cycle), participant.final_rating)
                text = f"{cycle.name}: final rating {label or participant.final_rating}."
                sources.append(Source(id=f"{prefix}:rating", kind=SourceKind.final_rating, text=text))
            for task in await self.tasks.of_person(cycle.id, person_id):
                if task.status != "done":
                    continue
                if task.step == Step.self_assessment.value:
                    kind, source_kind, short = "Self-assessment", SourceKind.self_assessment, "self"
                elif task.step == Step.manager_review.value:
                    kind, source_kind, short = "Manager review", SourceKind.manager_review, "review"
                else:
                    continue
                for key, text in _answers_text(kind, cycle, task.draft):
                    sources.append(Source(id=f"{prefix}:{short}:{key}", kind=source_kind, text=text))
        return sources

    async def summarise(
        self,
        person_id: uuid.UUID,
        year: int,
        principal: Principal,
        model: ChatModel | None,
        enabled: bool,
        *,
        keys: Mapping[str, Ed25519PublicKey],
        bundles: Sequence[SourceBundle] = (),
    ) -> SummaryRead:
        await self._check_access(person_id, principal)
        attested, issuers = attested_sources(keys, bundles, reader_id=principal.person_id, subject_id=person_id)
        sources = await self.sources(person_id, year) + attested
        items = [FormItem(key=SUMMARY_ITEM, kind="free_text", text=f"Summary of {year}")]
        notes: list[str] = []
        completion: Completion[ModelDraft] | None = None
        reason: FallbackReason | None = None
        if not sources:
            notes.append(f"No review cycle of this person ended in {year} with anything to summarise.")
        elif model is None:
            reason = FallbackReason.off
        elif not enabled:
            reason = FallbackReason.feature_off
        else:
            payload = {
                "year": year,
                "items": [{"key": SUMMARY_ITEM, "text": f"Summary of {year}"}],
                "sources": [{"id": source.id, "text": source.text} for source in sources],
            }
            completion = await model.complete(
                system=SUMMARY_PROMPT.text,
                user=to_prompt(payload),
                schema=ModelDraft,
                used_today=await calls_today(self.session, LLMAudit, principal.person_id),
                check=lambda draft: draft_problems(draft, items, sources),
            )
            reason = completion.reason
        row = audit_row(
            LLMAudit,
            person_id=principal.person_id,
            feature=SUMMARY_FEATURE,
            subject=f"person:{person_id}:{year}",
            prompt=SUMMARY_PROMPT,
            completion=completion,
            model_name=None if model is None else model.model,
            reason=reason,
        )
        self.session.add(row)
        await self.session.flush()
        if reason is not None:
            notes.append(FALLBACK_NOTES[reason])
        answered = completion.value if completion is not None else None
        sentences = answered.sentences if answered is not None else self._local(sources)
        return SummaryRead(
            person_id=person_id,
            year=year,
            provider="local" if answered is None else "model",
            fallback_reason=reason,
            prompt_version=SUMMARY_PROMPT.id,
            audit_id=row.id,
            sentences=sentences,
            text=" ".join(sentence.text for sentence in sentences),
            sources=sources,
            unavailable_sources=unavailable_sources(issuers),
            notes=notes,
        )

    @staticmethod
    def _local(sources: Sequence[Source]) -> list[DraftSentence]:
        """One plain sentence per goal score, goal and final rating (answers are left to the manager), then
        the attested sources."""
        wanted = (SourceKind.goal_score, SourceKind.goal, SourceKind.final_rating)
        own = [
            DraftSentence(item=SUMMARY_ITEM, text=source.text, sources=[source.id])
            for source in sources
            if source.kind in wanted and source.issuer is None
        ][:MAX_SENTENCES]
        return own + attested_sentences(SUMMARY_ITEM, sources, MAX_SENTENCES - len(own))
