"""All SQL about rating scales and review templates."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.models import CatalogueEntry, RatingScale, ReviewTemplate, ReviewTemplateScale
from shared.catalogue import CatalogueEntryChanged, CatalogueKind
from shared.database import dialect_insert


class RatingScaleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> RatingScaleRepository:
        return cls(session)

    async def get(self, scale_id: uuid.UUID, *, for_update: bool = False) -> RatingScale | None:
        query = select(RatingScale).where(RatingScale.id == scale_id)
        if for_update:
            query = query.with_for_update()
        scale: RatingScale | None = await self.session.scalar(query)
        return scale

    async def get_many(self, scale_ids: Collection[uuid.UUID], *, for_update: bool = False) -> list[RatingScale]:
        if not scale_ids:
            return []
        query = select(RatingScale).where(RatingScale.id.in_(list(scale_ids))).order_by(RatingScale.id)
        if for_update:
            query = query.with_for_update()
        return list(await self.session.scalars(query))

    async def page(self, *, limit: int, offset: int, search: str | None = None) -> tuple[list[RatingScale], int]:
        query = select(RatingScale)
        if search:
            query = query.where(func.lower(RatingScale.name).contains(search.lower(), autoescape=True))
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(query.order_by(RatingScale.name, RatingScale.id).limit(limit).offset(offset))
        return list(rows), total

    async def templates_using(self, scale_id: uuid.UUID, *, statuses: Collection[str] | None = None) -> list[uuid.UUID]:
        """Ids of the template versions using the scale (in these statuses), oldest first."""
        query = (
            select(ReviewTemplate.id)
            .join(ReviewTemplateScale, ReviewTemplateScale.template_id == ReviewTemplate.id)
            .where(ReviewTemplateScale.scale_id == scale_id)
        )
        if statuses is not None:
            query = query.where(ReviewTemplate.status.in_(list(statuses)))
        return list(await self.session.scalars(query.order_by(ReviewTemplate.created_at, ReviewTemplate.id)))

    async def add(self, scale: RatingScale) -> RatingScale:
        self.session.add(scale)
        await self.session.flush()
        return scale

    async def delete(self, scale: RatingScale) -> None:
        await self.session.delete(scale)
        await self.session.flush()


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> TemplateRepository:
        return cls(session)

    async def get(self, template_id: uuid.UUID, *, for_update: bool = False) -> ReviewTemplate | None:
        query = select(ReviewTemplate).where(ReviewTemplate.id == template_id)
        if for_update:
            query = query.with_for_update()
        template: ReviewTemplate | None = await self.session.scalar(query)
        return template

    def _filtered(
        self, *, status: str | None, search: str | None, family_id: uuid.UUID | None
    ) -> Select[tuple[ReviewTemplate]]:
        query = select(ReviewTemplate)
        if status is not None:
            query = query.where(ReviewTemplate.status == status)
        if search:
            query = query.where(func.lower(ReviewTemplate.name).contains(search.lower(), autoescape=True))
        if family_id is not None:
            query = query.where(ReviewTemplate.family_id == family_id)
        return query

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        status: str | None = None,
        search: str | None = None,
        family_id: uuid.UUID | None = None,
    ) -> tuple[list[ReviewTemplate], int]:
        query = self._filtered(status=status, search=search, family_id=family_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        order = (ReviewTemplate.name, ReviewTemplate.family_id, ReviewTemplate.version.desc())
        rows = await self.session.scalars(query.order_by(*order).limit(limit).offset(offset))
        return list(rows), total

    async def latest_version(self, family_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.max(ReviewTemplate.version)).where(ReviewTemplate.family_id == family_id)
            )
            or 0
        )

    async def in_family(self, family_id: uuid.UUID, status: str) -> list[ReviewTemplate]:
        query = (
            select(ReviewTemplate)
            .where(ReviewTemplate.family_id == family_id, ReviewTemplate.status == status)
            .order_by(ReviewTemplate.version)
        )
        return list(await self.session.scalars(query))

    async def scale_ids(self, template_id: uuid.UUID) -> list[uuid.UUID]:
        query = (
            select(ReviewTemplateScale.scale_id)
            .where(ReviewTemplateScale.template_id == template_id)
            .order_by(ReviewTemplateScale.scale_id)
        )
        return list(await self.session.scalars(query))

    async def set_scales(self, template_id: uuid.UUID, scale_ids: Collection[uuid.UUID]) -> None:
        await self.session.execute(delete(ReviewTemplateScale).where(ReviewTemplateScale.template_id == template_id))
        self.session.add_all(
            ReviewTemplateScale(template_id=template_id, scale_id=scale_id) for scale_id in sorted(set(scale_ids))
        )
        await self.session.flush()

    async def add(self, template: ReviewTemplate) -> ReviewTemplate:
        self.session.add(template)
        await self.session.flush()
        return template

    async def delete(self, template: ReviewTemplate) -> None:
        await self.session.delete(template)
        await self.session.flush()


class CatalogueEntryRepository:
    """The feedback service's competencies and company values, as its events said last."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CatalogueEntryRepository:
        return cls(session)

    async def put(self, kind: CatalogueKind, entry: CatalogueEntryChanged) -> None:
        """Keep the entry unless a later revision of it is held already (events may come late or twice)."""
        insert = dialect_insert(self.session, CatalogueEntry).values(kind=kind.value, **entry.model_dump())
        await self.session.execute(
            insert.on_conflict_do_update(
                index_elements=["kind", "id"],
                set_={
                    "name": insert.excluded.name,
                    "archived": insert.excluded.archived,
                    "revision": insert.excluded.revision,
                },
                where=CatalogueEntry.revision < insert.excluded.revision,
            )
        )

    async def get_many(self, wanted: Collection[tuple[CatalogueKind, uuid.UUID]]) -> list[CatalogueEntry]:
        ids = {entry_id for _kind, entry_id in wanted}
        if not ids:
            return []
        rows = await self.session.scalars(select(CatalogueEntry).where(CatalogueEntry.id.in_(sorted(ids))))
        return [row for row in rows if (CatalogueKind(row.kind), row.id) in wanted]
