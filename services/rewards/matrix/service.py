"""Merit matrices: one default and one per cycle at most; validated as a whole."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards import rules
from services.rewards.matrix.repository import MeritMatrixRepository
from services.rewards.matrix.schemas import MeritMatrixRead, MeritMatrixWrite
from services.rewards.models import MeritMatrix
from shared.errors import Conflict, NotFound, ValidationFailed

DEFAULT_SCOPE = "default"


def scope_of(cycle_id: uuid.UUID | None) -> str:
    return DEFAULT_SCOPE if cycle_id is None else str(cycle_id)


def to_rules(data: MeritMatrixWrite) -> rules.Matrix:
    return rules.Matrix(
        scale_min=data.scale_min,
        scale_max=data.scale_max,
        buckets=[rules.Bucket(b.min, b.max, b.label) for b in data.buckets],
        rows=[rules.RatingRow(r.min, r.max, r.label) for r in data.rows],
        cells=[[rules.Guideline(c.min, c.target, c.max) for c in line] for line in data.cells],
    )


def read(matrix: MeritMatrix) -> MeritMatrixRead:
    return MeritMatrixRead.model_validate(
        {
            **matrix.definition,
            "scale_min": matrix.scale_min,
            "scale_max": matrix.scale_max,
            "id": matrix.id,
            "scope": matrix.scope,
            "cycle_id": matrix.cycle_id,
            "revision": matrix.revision,
            "updated_by": matrix.updated_by,
            "created_at": matrix.created_at,
            "modified_at": matrix.modified_at,
        }
    )


class MeritMatrixService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.matrices = MeritMatrixRepository.from_session(session)

    async def get(self, cycle_id: uuid.UUID | None) -> MeritMatrix:
        matrix = await self.matrices.get(scope_of(cycle_id))
        if matrix is None:
            what = "default merit matrix" if cycle_id is None else f"merit matrix for cycle {cycle_id}"
            raise NotFound(f"No {what} has been set.")
        return matrix

    async def for_cycle(self, cycle_id: uuid.UUID) -> tuple[MeritMatrix, rules.Matrix] | None:
        """The cycle's own matrix, else the default one; None if neither exists."""
        matrix = await self.matrices.get(scope_of(cycle_id)) or await self.matrices.get(DEFAULT_SCOPE)
        if matrix is None:
            return None
        return matrix, to_rules(read(matrix))

    async def put(self, cycle_id: uuid.UUID | None, data: MeritMatrixWrite, by: uuid.UUID) -> tuple[MeritMatrix, bool]:
        """Create or replace; returns the matrix and whether it was created."""
        errors = rules.validate_matrix(to_rules(data))
        if errors:
            raise ValidationFailed(
                "The merit matrix is invalid: " + ", ".join(error.field for error in errors),
                [{"field": error.field, "message": error.message} for error in errors],
            )
        definition = data.model_dump(mode="json", include={"buckets", "rows", "cells"})
        scope = scope_of(cycle_id)
        matrix = await self.matrices.get(scope, for_update=True)
        if matrix is not None:
            matrix.scale_min, matrix.scale_max = Decimal(data.scale_min), Decimal(data.scale_max)
            matrix.definition = definition
            matrix.revision += 1
            matrix.updated_by = by
            await self.session.flush()
            return matrix, False
        try:
            created = await self.matrices.add(
                MeritMatrix(
                    scope=scope,
                    cycle_id=cycle_id,
                    scale_min=data.scale_min,
                    scale_max=data.scale_max,
                    definition=definition,
                    revision=1,
                    updated_by=by,
                )
            )
        except IntegrityError:
            raise Conflict("Another request set this merit matrix at the same time; try again.") from None
        return created, True

    async def delete(self, cycle_id: uuid.UUID | None) -> None:
        await self.matrices.delete(await self.get(cycle_id))
