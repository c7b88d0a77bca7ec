"""HTTP routes of the rewards service, one router per domain (see the subpackages)."""

from __future__ import annotations

from fastapi import APIRouter

from services.rewards.approvals.endpoints import router as approvals
from services.rewards.bands.endpoints import router as bands
from services.rewards.bonus.endpoints import router as bonus
from services.rewards.compensation.endpoints import router as compensation
from services.rewards.equity.endpoints import router as equity
from services.rewards.exchange_rates.endpoints import router as exchange_rates
from services.rewards.matrix.endpoints import router as matrix
from services.rewards.pay_changes.endpoints import router as pay_changes
from services.rewards.policy.endpoints import router as policy
from services.rewards.proposals.endpoints import router as proposals

router = APIRouter()
for part in (bands, compensation, matrix, proposals, pay_changes, policy, equity, exchange_rates, bonus, approvals):
    router.include_router(part)
