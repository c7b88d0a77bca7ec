"""HTTP routes of the reviews service, one router per domain (see the subpackages)."""

from __future__ import annotations

from fastapi import APIRouter

from services.reviews.cycles.endpoints import router as cycles
from services.reviews.directory.endpoints import org_router as org_units
from services.reviews.directory.endpoints import router as directory
from services.reviews.scim.endpoints import router as scim
from services.reviews.templates.endpoints import router as templates

router = APIRouter()
for part in (directory, org_units, scim, templates, cycles):
    router.include_router(part)
