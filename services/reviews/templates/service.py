"""Rating scales and review templates: the rules, versioning and the events they publish.

Versioning (docs/review-templates.md):

* A template version is a draft (changeable, deletable), then published (frozen: the
  points of its scales are copied into it), then archived. Changing a published template
  means ``POST /templates/{id}/versions``: a new draft version of the same family. Publishing
  a version archives the family's previously published one.
* A rating scale is edited in place (``revision`` grows), but while a published template
  uses it its points are frozen: a change to them is refused with 409; the name and
  description may still change. A scale any template version uses cannot be deleted.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.events import outbox
from services.reviews.models import RatingScale, ReviewTemplate
from services.reviews.templates.repository import CatalogueEntryRepository, RatingScaleRepository, TemplateRepository
from services.reviews.templates.rules import FieldError, check_points, check_template
from services.reviews.templates.schemas import (
    PeerFeedbackOptions,
    RatingScaleWrite,
    ScalePoint,
    ScorePreviewRequest,
    Section,
    TemplateRead,
    TemplateStatus,
    TemplateWrite,
)
from services.reviews.templates.scoring import (
    Rating,
    ScaleSpec,
    ScoreRecord,
    ScoringError,
    TemplateSpec,
    check_components,
    components_from_ratings,
    default_formula,
    score,
)
from shared.catalogue import CatalogueKind
from shared.database import utcnow
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.events import event_type

TEMPLATE_PUBLISHED = event_type("reviews", "template", "published")
RATING_SCALE_CHANGED = event_type("reviews", "rating-scale", "changed")

DRAFT, PUBLISHED, ARCHIVED = (status.value for status in TemplateStatus)


def invalid(what: str, errors: Sequence[FieldError]) -> ValidationFailed:
    return ValidationFailed(
        f"The {what} is invalid: " + ", ".join(dict.fromkeys(error.field for error in errors)),
        [error.as_dict() for error in errors],
    )


def _values(points: Sequence[object]) -> tuple[float, ...]:
    return tuple(ScalePoint.model_validate(point).value for point in points)


class RatingScaleService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.scales = RatingScaleRepository.from_session(session)

    async def get(self, scale_id: uuid.UUID, *, for_update: bool = False) -> RatingScale:
        scale = await self.scales.get(scale_id, for_update=for_update)
        if scale is None:
            raise NotFound(f"No rating scale with id {scale_id}.")
        return scale

    async def create(self, data: RatingScaleWrite, by: uuid.UUID) -> RatingScale:
        errors = check_points(data.points)
        if errors:
            raise invalid("rating scale", errors)
        scale = await self.scales.add(
            RatingScale(
                id=uuid.uuid4(),
                name=data.name,
                description=data.description,
                points=[point.model_dump(mode="json") for point in data.points],
                revision=1,
                created_by=by,
            )
        )
        self._changed(scale)
        return scale

    async def update(self, scale_id: uuid.UUID, data: RatingScaleWrite) -> RatingScale:
        scale = await self.get(scale_id, for_update=True)
        errors = check_points(data.points)
        if errors:
            raise invalid("rating scale", errors)
        points = [point.model_dump(mode="json") for point in data.points]
        if points != scale.points:
            using = await self.scales.templates_using(scale_id, statuses=(PUBLISHED,))
            if using:
                raise Conflict(
                    f"The points of this scale cannot change: {len(using)} published template version(s) use it. "
                    "Create a new scale and use it in a new template version; the name and description may change.",
                    templates=[str(template_id) for template_id in using],
                )
        if (data.name, data.description, points) == (scale.name, scale.description, scale.points):
            return scale
        scale.name, scale.description, scale.points = data.name, data.description, points
        scale.revision += 1
        await self.session.flush()
        self._changed(scale)
        return scale

    async def delete(self, scale_id: uuid.UUID) -> None:
        scale = await self.get(scale_id, for_update=True)
        using = await self.scales.templates_using(scale_id)
        if using:
            raise Conflict(
                f"{len(using)} template version(s) use this scale; it cannot be deleted.",
                templates=[str(template_id) for template_id in using],
            )
        await self.scales.delete(scale)
        self._changed(scale)

    def _changed(self, scale: RatingScale) -> None:
        outbox.add(self.session, "rating-scale", "changed", {"id": str(scale.id)}, subject=str(scale.id))


def sections_of(template: ReviewTemplate) -> list[Section]:
    return [Section.model_validate(section) for section in template.sections]


def frozen_scales(template: ReviewTemplate) -> dict[uuid.UUID, tuple[str, list[ScalePoint]]]:
    """The name and points of each scale a published version uses, as they were when it was published."""
    frozen = template.scales or {}
    found: dict[uuid.UUID, tuple[str, list[ScalePoint]]] = {}
    for key, value in frozen.items():
        name = str(value.get("name", "")) if isinstance(value, dict) else ""
        found[uuid.UUID(key)] = (name, [ScalePoint.model_validate(point) for point in _points_of(value)])
    return found


def scale_ids_of(sections: Sequence[Section]) -> list[uuid.UUID]:
    ids = {item.scale_id for section in sections for item in section.items if item.scale_id is not None}
    return sorted(ids)


def read(template: ReviewTemplate) -> TemplateRead:
    sections = sections_of(template)
    return TemplateRead(
        id=template.id,
        family_id=template.family_id,
        version=template.version,
        name=template.name,
        description=template.description,
        status=TemplateStatus(template.status),
        sections=sections,
        peer_feedback=None
        if template.peer_feedback is None
        else PeerFeedbackOptions.model_validate(template.peer_feedback),
        formula=template.formula,
        effective_formula=template.formula if template.formula is not None else default_formula(sections),
        scale_ids=scale_ids_of(sections),
        created_by=template.created_by,
        created_at=template.created_at,
        modified_at=template.modified_at,
        published_at=template.published_at,
        published_by=template.published_by,
        archived_at=template.archived_at,
    )


# Scoring specs of published (or archived) versions, by template id: a version's sections,
# formula and frozen scales never change once published, and every submit validates its answers
# against one. Bounded; a draft is never kept.
_PUBLISHED_SPECS: OrderedDict[uuid.UUID, TemplateSpec] = OrderedDict()
PUBLISHED_SPECS_KEPT = 256


class TemplateService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.templates = TemplateRepository.from_session(session)
        self.scales = RatingScaleRepository.from_session(session)

    async def get(self, template_id: uuid.UUID, *, for_update: bool = False) -> ReviewTemplate:
        template = await self.templates.get(template_id, for_update=for_update)
        if template is None:
            raise NotFound(f"No review template with id {template_id}.")
        return template

    async def create(self, data: TemplateWrite, by: uuid.UUID) -> ReviewTemplate:
        sections = await self._checked(data)
        template = await self.templates.add(
            ReviewTemplate(
                id=uuid.uuid4(),
                family_id=uuid.uuid4(),
                version=1,
                status=DRAFT,
                created_by=by,
                **self._fields(data, sections),
            )
        )
        await self.templates.set_scales(template.id, scale_ids_of(sections))
        return template

    async def update(self, template_id: uuid.UUID, data: TemplateWrite) -> ReviewTemplate:
        template = await self.get(template_id, for_update=True)
        self._require_draft(template, "changed")
        sections = await self._checked(data)
        for name, value in self._fields(data, sections).items():
            setattr(template, name, value)
        await self.session.flush()
        await self.templates.set_scales(template.id, scale_ids_of(sections))
        return template

    async def delete(self, template_id: uuid.UUID) -> None:
        template = await self.get(template_id, for_update=True)
        self._require_draft(template, "deleted")
        await self.templates.set_scales(template.id, ())
        await self.templates.delete(template)

    async def publish(self, template_id: uuid.UUID, by: uuid.UUID) -> ReviewTemplate:
        template = await self.get(template_id, for_update=True)
        if template.status != DRAFT:
            raise Conflict(f"Version {template.version} is {template.status}; only a draft can be published.")
        data = TemplateWrite.model_validate(
            {
                "name": template.name,
                "description": template.description,
                "formula": template.formula,
                "sections": template.sections,
                "peer_feedback": template.peer_feedback,
            }
        )
        # Lock the scales: a concurrent change of their points waits for this publication.
        sections = await self._checked(data, for_update=True)
        scales = await self.scales.get_many(scale_ids_of(sections))
        for earlier in await self.templates.in_family(template.family_id, PUBLISHED):
            earlier.status, earlier.archived_at = ARCHIVED, utcnow()
        template.status, template.published_at, template.published_by = PUBLISHED, utcnow(), by
        template.scales = {
            str(scale.id): {"name": scale.name, "revision": scale.revision, "points": scale.points} for scale in scales
        }
        await self.session.flush()
        outbox.add(
            self.session,
            "template",
            "published",
            {"id": str(template.id), "version": template.version},
            subject=str(template.id),
        )
        return template

    async def archive(self, template_id: uuid.UUID) -> ReviewTemplate:
        template = await self.get(template_id, for_update=True)
        if template.status == DRAFT:
            raise Conflict("A draft cannot be archived; delete it instead.")
        if template.status == PUBLISHED:
            template.status, template.archived_at = ARCHIVED, utcnow()
            await self.session.flush()
        return template

    async def new_version(self, template_id: uuid.UUID, by: uuid.UUID) -> ReviewTemplate:
        """A new draft of the template's family, copied from this version."""
        source = await self.get(template_id)
        drafts = await self.templates.in_family(source.family_id, DRAFT)
        if drafts:
            raise Conflict(
                f"Version {drafts[0].version} of this template is already a draft; change that one.",
                draft_id=str(drafts[0].id),
            )
        version = await self.templates.latest_version(source.family_id) + 1
        try:
            template = await self.templates.add(
                ReviewTemplate(
                    id=uuid.uuid4(),
                    family_id=source.family_id,
                    version=version,
                    status=DRAFT,
                    created_by=by,
                    name=source.name,
                    description=source.description,
                    formula=source.formula,
                    sections=source.sections,
                    peer_feedback=source.peer_feedback,
                )
            )
        except IntegrityError:
            raise Conflict("Another request created a new version of this template at the same time.") from None
        await self.templates.set_scales(template.id, scale_ids_of(sections_of(template)))
        return template

    # Scoring

    async def scoring_spec(self, template_id: uuid.UUID, *, allow_draft: bool = False) -> TemplateSpec:
        """What ``scoring.score_review`` needs; a published (or archived) version scores with its frozen scales."""
        kept = _PUBLISHED_SPECS.get(template_id)
        if kept is not None:
            _PUBLISHED_SPECS.move_to_end(template_id)
            return kept
        template = await self.get(template_id)
        if template.status == DRAFT and not allow_draft:
            raise Conflict(f"Version {template.version} is a draft; only a published template scores reviews.")
        sections = sections_of(template)
        if template.status == DRAFT:
            live = await self.scales.get_many(scale_ids_of(sections))
            scales = {scale.id: ScaleSpec(scale.id, _values(scale.points)) for scale in live}
        else:
            frozen = template.scales or {}
            scales = {
                uuid.UUID(key): ScaleSpec(uuid.UUID(key), _values(_points_of(value))) for key, value in frozen.items()
            }
        spec = TemplateSpec(
            id=template.id,
            version=template.version,
            draft=template.status == DRAFT,
            sections=tuple(sections),
            scales=scales,
            formula=template.formula,
        )
        if not spec.draft:
            _PUBLISHED_SPECS[template_id] = spec
            while len(_PUBLISHED_SPECS) > PUBLISHED_SPECS_KEPT:
                _PUBLISHED_SPECS.popitem(last=False)
        return spec

    async def preview(self, template_id: uuid.UUID, request: ScorePreviewRequest) -> ScoreRecord:
        """The score these inputs would get; given components win over those computed from ratings."""
        spec = await self.scoring_spec(template_id, allow_draft=True)
        try:
            ratings = [Rating(rating.item, rating.by, rating.value) for rating in request.ratings]
            computed = components_from_ratings(spec, ratings) if ratings else {}
            given = check_components(request.components)
            components = {**computed, **{k: v for k, v in given.items() if k in request.components}}
            return score(spec, components)
        except ScoringError as exc:
            raise ValidationFailed.field(exc.field, exc.message) from None

    # Helpers

    async def _checked(self, data: TemplateWrite, *, for_update: bool = False) -> list[Section]:
        wanted = {item.scale_id for section in data.sections for item in section.items if item.scale_id is not None}
        scales = await self.scales.get_many(wanted, for_update=for_update)
        linked = {
            (kind, entry_id)
            for section in data.sections
            for item in section.items
            for kind, entry_id in (
                (CatalogueKind.competency, item.competency_id),
                (CatalogueKind.company_value, item.company_value_id),
            )
            if entry_id is not None
        }
        entries = await CatalogueEntryRepository.from_session(self.session).get_many(linked)
        catalogue = {(CatalogueKind(entry.kind), entry.id): (entry.name, entry.archived) for entry in entries}
        checked = check_template(data, {scale.id: _values(scale.points) for scale in scales}, catalogue)
        if checked.errors:
            raise invalid("template", checked.errors)
        if data.peer_feedback is not None:
            known = {
                item.key for section in checked.sections for item in section.items if item.kind.value == "competency"
            }
            for index, key in enumerate(data.peer_feedback.competencies):
                if key not in known:
                    raise ValidationFailed.field(
                        f"peer_feedback.competencies.{index}", f"no competency {key} in this template"
                    )
        return checked.sections

    def _fields(self, data: TemplateWrite, sections: Sequence[Section]) -> dict[str, object]:
        return {
            "name": data.name,
            "description": data.description,
            "formula": data.formula,
            "sections": [section.model_dump(mode="json") for section in sections],
            "peer_feedback": None if data.peer_feedback is None else data.peer_feedback.model_dump(mode="json"),
        }

    def _require_draft(self, template: ReviewTemplate, action: str) -> None:
        if template.status != DRAFT:
            raise Conflict(
                f"Version {template.version} is {template.status} and cannot be {action}; "
                f"create a new version with POST /templates/{template.id}/versions.",
                template_status=template.status,
            )


def _points_of(value: object) -> list[object]:
    if isinstance(value, dict) and isinstance(value.get("points"), list):
        return list(value["points"])
    return []
