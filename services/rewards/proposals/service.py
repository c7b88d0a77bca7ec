"""Pay proposals: created from final ratings, edited by managers, approved by HR per unit.

Status flow (docs/rewards.md): ``needs_data`` -> ``draft`` -> ``submitted`` -> ``approved``;
HR may return submitted proposals to ``draft`` with a reason. Log lines name ids only.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards import rules
from services.rewards.bonus.repository import BonusRepository
from services.rewards.bonus.schemas import BonusPlanDefinition
from services.rewards.bonus.service import (
    BONUS_FIELDS,
    BonusService,
    PoolKind,
    apply_bonus,
    check_bonus,
    override_amounts,
    override_pct,
    stored_amounts,
)
from services.rewards.compensation.repository import CompensationRepository
from services.rewards.events import add_cycle_finalized_event, add_proposal_event
from services.rewards.exchange_rates.schemas import ConversionRead
from services.rewards.exchange_rates.service import ExchangeRateService, conversion_read
from services.rewards.matrix.service import MeritMatrixService
from services.rewards.models import (
    BudgetOverride,
    CompensationRecord,
    MeritMatrix,
    OrgUnitApproval,
    PayBand,
    PayCycle,
    PayProposal,
)
from services.rewards.policy.service import PolicyService
from services.rewards.proposals.repository import PayCycleRepository, ProposalRepository
from services.rewards.proposals.schemas import (
    ApproveResult,
    BudgetOverrideUpdate,
    BudgetRead,
    CycleBudgetTotals,
    CycleUpdate,
    Guideline,
    ManagerBudget,
    PoolRead,
    ProposalRead,
    ProposalUpdate,
    RefreshResult,
    ReturnRequest,
    ReturnResult,
    Statement,
    StatementHistory,
    SubmitResult,
    UnitSummary,
)
from shared.auth import Principal, Role
from shared.calibration import PayApprovalOpened, ProposalStatus, RatingFinalized
from shared.database import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed

logger = logging.getLogger(__name__)

UNASSIGNED_UNIT = "unassigned"


def today() -> date:
    return utcnow().date()


def is_hr(principal: Principal) -> bool:
    return principal.has_any(Role.hr, Role.admin)


def guideline_of(proposal: PayProposal) -> rules.Guideline | None:
    low, target, high = proposal.guideline_min_pct, proposal.guideline_target_pct, proposal.guideline_max_pct
    if low is None or target is None or high is None:
        return None
    return rules.Guideline(low, target, high)


def proposal_read(proposal: PayProposal, display_name: str | None = None) -> ProposalRead:
    read = ProposalRead.model_validate(proposal)
    read.display_name = display_name
    if (
        proposal.guideline_min_pct is not None
        and proposal.guideline_target_pct is not None
        and proposal.guideline_max_pct is not None
    ):
        guideline = rules.Guideline(
            proposal.guideline_min_pct, proposal.guideline_target_pct, proposal.guideline_max_pct
        )
        read.guideline = Guideline(min=guideline.min, target=guideline.target, max=guideline.max)
        read.outside_guideline = proposal.proposed_pct is not None and not guideline.allows(proposal.proposed_pct)
    return read


@dataclass(frozen=True)
class Pools:
    """Merit and bonus budgets per currency, of a unit or of a manager's own reports.

    The percentages and fixed amounts are the unit's (empty for a manager's reports).
    """

    merit: dict[str, rules.Budget]
    bonus: dict[str, rules.Budget]
    merit_pct: Decimal | None
    bonus_pct: Decimal | None
    people: int
    merit_amounts: dict[str, Decimal] = field(default_factory=dict)
    bonus_amounts: dict[str, Decimal] = field(default_factory=dict)

    def of(self, kind: PoolKind, currency: str) -> rules.Budget:
        """The pool in ``currency``, also when no proposal of the unit is paid in it."""
        found = (self.merit if kind == "merit" else self.bonus).get(currency)
        if found is not None:
            return found
        pct, amounts = (self.merit_pct, self.merit_amounts) if kind == "merit" else (self.bonus_pct, self.bonus_amounts)
        rule = rules.pool_rule(currency, pct, amounts)
        return rules.Budget(currency, rules.ZERO, rules.ZERO, rules.unit_pool(rule, rules.ZERO), rule.basis)


@dataclass(frozen=True)
class RatingInputs:
    """What computing proposals reads besides the rating, read once for many people of a cycle."""

    pay: dict[uuid.UUID, tuple[CompensationRecord, PayBand]]
    matrix: tuple[MeritMatrix, rules.Matrix] | None
    bonus_plan: BonusPlanDefinition | None


@dataclass(frozen=True)
class Edited:
    proposal: PayProposal
    pools: Pools
    scope: str
    warnings: list[str]


@dataclass(frozen=True)
class ManagerView:
    """Whose reports a request is about, and how deep."""

    manager_id: uuid.UUID
    all_levels: bool


class ProposalService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.proposals = ProposalRepository.from_session(session)
        self.cycles = PayCycleRepository.from_session(session)
        self.compensation = CompensationRepository.from_session(session)
        self.matrices = MeritMatrixService(session)
        self.bonuses = BonusRepository.from_session(session)

    # Events from the reviews service ------------------------------------------------------

    async def apply_rating(self, payload: dict[str, Any]) -> PayProposal | None:
        """One final rating -> one proposal per person and cycle; older versions never win."""
        return (await self.apply_ratings([payload]))[0]

    async def apply_ratings(self, payloads: Sequence[dict[str, Any]]) -> list[PayProposal | None]:
        """Final ratings, in order -> each person's proposal in its cycle (None: the cycle is finalized).

        What a cycle's ratings share is read once for all of them: the pay cycle and its
        approvals, the merit matrix, the bonus plan, and their proposals, people and current
        pay in a query each; the changes are flushed together. Applied one by one (a
        consumer's single path) or many at once, the same ratings leave the same proposals.
        """
        ratings = [RatingFinalized.model_validate(payload) for payload in payloads]
        by_cycle: dict[uuid.UUID, list[int]] = defaultdict(list)
        for index, rating in enumerate(ratings):
            by_cycle[rating.cycle_id].append(index)
        applied: list[PayProposal | None] = [None] * len(ratings)
        for cycle_id, indexes in by_cycle.items():
            proposals = await self._apply_cycle_ratings(cycle_id, [ratings[index] for index in indexes])
            for index, proposal in zip(indexes, proposals, strict=True):
                applied[index] = proposal
        return applied

    async def _apply_cycle_ratings(
        self, cycle_id: uuid.UUID, ratings: Sequence[RatingFinalized]
    ) -> list[PayProposal | None]:
        cycle = await self.cycles.get_or_create(cycle_id)
        if cycle.finalized_at is not None:
            for rating in ratings:
                logger.warning(
                    "rating v%d of %s ignored: cycle %s is finalized", rating.version, rating.person_id, cycle.id
                )
            return [None] * len(ratings)
        people = list(dict.fromkeys(rating.person_id for rating in ratings))
        proposals = await self.proposals.for_people(cycle_id, people, for_update=True)
        approved = await self.cycles.approvals(cycle_id)
        departments = await self.proposals.departments([person for person in people if person not in proposals])
        inputs = await self._inputs(cycle_id, people)
        created: list[PayProposal] = []
        announced: list[tuple[PayProposal, str]] = []
        applied: list[PayProposal | None] = []
        for rating in ratings:
            proposal = proposals.get(rating.person_id)
            applied.append(proposal)
            if proposal is not None and rating.version <= proposal.rating_version:
                continue  # a stale or repeated rating
            org_unit = rating.org_unit or (
                proposal.org_unit if proposal is not None else departments.get(rating.person_id) or UNASSIGNED_UNIT
            )
            if org_unit in approved:
                logger.warning(
                    "rating v%d of %s ignored: unit of cycle %s is approved already",
                    rating.version,
                    rating.person_id,
                    cycle.id,
                )
                continue
            if proposal is None:
                proposal = proposals[rating.person_id] = applied[-1] = PayProposal(
                    cycle_id=rating.cycle_id, person_id=rating.person_id
                )
                created.append(proposal)
                announced.append((proposal, "created"))
            elif proposal.status == ProposalStatus.submitted:
                announced.append((proposal, "returned"))
            proposal.org_unit = org_unit
            proposal.rating = rating.rating
            proposal.rating_label = rating.rating_label
            proposal.scale_min, proposal.scale_max = rating.scale_min, rating.scale_max
            proposal.rating_version = rating.version
            proposal.rating_finalized_at = rating.finalized_at
            proposal.submitted_by = proposal.submitted_at = None
            self._compute(proposal, inputs)
        await self.proposals.add_all(created)
        for proposal, verb in announced:
            add_proposal_event(self.session, proposal, verb)
        return applied

    async def open_pay_approval(self, payload: dict[str, Any]) -> PayCycle:
        opened = PayApprovalOpened.model_validate(payload)
        cycle = await self.cycles.get_or_create(opened.cycle_id, for_update=True)
        for name in ("budget_pct", "manager_due", "hr_due"):
            value = getattr(opened, name)
            if value is not None:
                setattr(cycle, name, value)
        await self.session.flush()
        return cycle

    async def _inputs(self, cycle_id: uuid.UUID, people: Sequence[uuid.UUID]) -> RatingInputs:
        return RatingInputs(
            pay=await self.compensation.current(people, today()),
            matrix=await self.matrices.for_cycle(cycle_id),
            bonus_plan=await BonusService(self.session).plan(cycle_id),
        )

    def _compute(self, proposal: PayProposal, inputs: RatingInputs) -> None:
        """Snapshot salary, band and guideline; the proposed % starts at the target."""
        reason = self._fill(proposal, inputs)
        if reason is not None:
            proposal.status = ProposalStatus.needs_data.value
            proposal.needs_data_reason = reason
            for name in (
                "guideline_min_pct",
                "guideline_target_pct",
                "guideline_max_pct",
                "proposed_pct",
                "proposed_salary",
                "increase_amount",
                *BONUS_FIELDS,
            ):
                setattr(proposal, name, None)
            return
        proposal.status = ProposalStatus.draft.value
        proposal.needs_data_reason = None
        proposal.justification = None
        proposal.over_budget_reason = None

    def _fill(self, proposal: PayProposal, inputs: RatingInputs) -> str | None:
        """Fill the snapshot; returns why it cannot be completed, or None."""
        found = inputs.pay.get(proposal.person_id)
        if found is None:
            return "The person has no current compensation record: import one, then refresh the cycle."
        record, band = found
        proposal.job_level, proposal.fte = record.job_level, record.fte
        proposal.compensation_record_id = record.id
        proposal.currency = record.currency
        proposal.current_salary = record.base_salary
        proposal.grade = band.grade
        proposal.band_minimum, proposal.band_midpoint, proposal.band_maximum = band.minimum, band.midpoint, band.maximum
        ratio = rules.compa_ratio(record.base_salary, band.midpoint)
        proposal.compa_ratio = ratio
        if ratio is None:
            return f"The pay band {band.grade} ({band.currency}) has no midpoint, so no compa-ratio."
        matrix = inputs.matrix
        if matrix is None:
            return "No merit matrix is set for this cycle and there is no default one."
        stored, definition = matrix
        if (definition.scale_min, definition.scale_max) != (proposal.scale_min, proposal.scale_max):
            return (
                f"The merit matrix is for ratings {definition.scale_min}-{definition.scale_max}; "
                f"this rating is on a {proposal.scale_min}-{proposal.scale_max} scale."
            )
        cell = rules.lookup(definition, proposal.rating, ratio)
        if cell is None:
            return "The rating or the compa-ratio falls outside the merit matrix."
        proposal.matrix_id, proposal.matrix_revision = stored.id, stored.revision
        proposal.matrix_row, proposal.matrix_bucket = cell.row, cell.bucket
        proposal.guideline_min_pct = cell.guideline.min
        proposal.guideline_target_pct = cell.guideline.target
        proposal.guideline_max_pct = cell.guideline.max
        self._propose(proposal, cell.guideline.target)
        apply_bonus(proposal, inputs.bonus_plan, record.hire_date)
        return None

    async def recompute_bonuses(self, cycle_id: uuid.UUID, plan: BonusPlanDefinition) -> int:
        """A changed plan recomputes the bonus of every draft (a manager's change is dropped)."""
        drafts = await self.proposals.of_cycle_with_data(cycle_id, [ProposalStatus.draft])
        ids = {proposal.compensation_record_id for proposal in drafts if proposal.compensation_record_id}
        records = await self.compensation.by_ids(ids)
        for proposal in drafts:
            record = records.get(proposal.compensation_record_id) if proposal.compensation_record_id else None
            apply_bonus(proposal, plan, record.hire_date if record else None)
        await self.session.flush()
        return len(drafts)

    @staticmethod
    def _propose(proposal: PayProposal, pct: Decimal) -> None:
        assert proposal.current_salary is not None
        proposal.proposed_pct = pct
        proposal.proposed_salary = rules.new_salary(proposal.current_salary, pct)
        proposal.increase_amount = rules.increase(proposal.current_salary, pct)

    # HR: cycle policy and completing data -------------------------------------------------

    async def cycle(self, cycle_id: uuid.UUID) -> tuple[PayCycle, list[str], list[str]]:
        cycle = await self.cycles.get(cycle_id)
        if cycle is None:
            raise NotFound(f"No pay cycle {cycle_id} is known to the rewards service.")
        units = await self.proposals.org_units(cycle_id)
        approved = sorted(await self.cycles.approvals(cycle_id))
        return cycle, units, approved

    async def update_cycle(self, cycle_id: uuid.UUID, data: CycleUpdate) -> PayCycle:
        cycle = await self.cycles.get_or_create(cycle_id, for_update=True)
        if cycle.finalized_at is not None:
            raise Conflict(f"Pay cycle {cycle_id} is finalized; its policy can no longer change.")
        for name in data.model_fields_set:
            setattr(cycle, name, getattr(data, name))
        await self.session.flush()
        return cycle

    async def refresh(self, cycle_id: uuid.UUID) -> RefreshResult:
        """Recompute every ``needs_data`` proposal of a cycle (after an import or a new matrix)."""
        await self._cycle_or_404(cycle_id)
        completed = still = 0
        needing = await self.proposals.of_cycle_needing_data(cycle_id)
        inputs = await self._inputs(cycle_id, [proposal.person_id for proposal in needing])
        for proposal in needing:
            self._compute(proposal, inputs)
            if proposal.status == ProposalStatus.draft:
                completed += 1
            else:
                still += 1
        await self.session.flush()
        return RefreshResult(cycle_id=cycle_id, completed=completed, still_needs_data=still)

    # Managers -----------------------------------------------------------------------------

    def manager_view(self, principal: Principal, manager: str | None, all_levels: bool) -> ManagerView | None:
        """``manager=me`` for a manager's own reports; another id or none at all is HR's view."""
        if manager == "me":
            if not (principal.has_any(Role.manager) or is_hr(principal)):
                raise Forbidden("Only managers, HR and admins may list proposals.")
            return ManagerView(principal.person_id, all_levels)
        if not is_hr(principal):
            raise Forbidden("Only HR and admins may list proposals other than those of their own reports (manager=me).")
        if manager is None:
            return None
        try:
            return ManagerView(uuid.UUID(manager), all_levels)
        except ValueError:
            raise ValidationFailed.field("manager", "must be 'me' or a person id") from None

    async def page(
        self, cycle_id: uuid.UUID, view: ManagerView | None, *, limit: int, offset: int, **filters: Any
    ) -> tuple[list[ProposalRead], int]:
        rows, total = await self.proposals.page(
            cycle_id,
            limit=limit,
            offset=offset,
            under=view.manager_id if view else None,
            all_levels=view.all_levels if view else False,
            **filters,
        )
        return [proposal_read(proposal, name) for proposal, name in rows], total

    async def get(self, proposal_id: uuid.UUID, principal: Principal, *, for_update: bool = False) -> PayProposal:
        proposal = await self.proposals.get(proposal_id, for_update=for_update)
        if proposal is None or not await self._may_see(proposal, principal):
            # Not telling other people whose proposals exist.
            raise NotFound(f"No pay proposal {proposal_id} that you may see.")
        return proposal

    async def read(self, proposal: PayProposal) -> ProposalRead:
        """The proposal as the list shows it: with the person's name from the people projection."""
        person = await self.proposals.person(proposal.person_id)
        return proposal_read(proposal, None if person is None else person.display_name)

    async def _may_see(self, proposal: PayProposal, principal: Principal) -> bool:
        if is_hr(principal):
            return True
        return principal.has_any(Role.manager) and await self.proposals.is_report(
            principal.person_id, proposal.person_id
        )

    async def edit(self, proposal_id: uuid.UUID, data: ProposalUpdate, principal: Principal) -> Edited:
        proposal = await self.get(proposal_id, principal, for_update=True)
        if proposal.status != ProposalStatus.draft:
            raise Conflict(
                f"Pay proposal {proposal_id} is {proposal.status}; only a draft can change.",
                current_status=proposal.status,
            )
        # A draft always holds a complete snapshot (needs_data is a status of its own).
        guideline = guideline_of(proposal)
        salary, currency, old_increase = proposal.current_salary, proposal.currency, proposal.increase_amount
        assert guideline is not None
        assert salary is not None
        assert currency is not None
        assert old_increase is not None
        if not guideline.allows(data.proposed_pct) and data.justification is None:
            raise ValidationFailed.field(
                "justification",
                f"required: {data.proposed_pct} % is outside the guideline {guideline.min}-{guideline.max} %",
            )
        cycle = await self.cycles.get_or_create(proposal.cycle_id)
        old_bonus = proposal.bonus_amount or rules.ZERO
        new_bonus = old_bonus
        if data.bonus_amount is not None:
            check_bonus(proposal, await BonusService(self.session).plan(cycle.id), data.bonus_amount, data.bonus_reason)
            new_bonus = data.bonus_amount
        new_increase = rules.increase(salary, data.proposed_pct)
        unit = await self.pools(cycle, org_unit=proposal.org_unit)
        merit, bonus = unit.of("merit", currency), unit.of("bonus", currency)
        merit_after = merit.proposed - old_increase + new_increase
        bonus_after = bonus.proposed - old_bonus + new_bonus
        # Lowering is always allowed; only a rise that ends above a pool is over budget.
        over: list[tuple[str, str, Decimal]] = []
        if merit.budget is not None and new_increase > old_increase and merit_after > merit.budget:
            over.append(("proposed_pct", "merit", merit_after - merit.budget))
        if bonus.budget is not None and new_bonus > old_bonus and bonus_after > bonus.budget:
            over.append(("bonus_amount", "bonus", bonus_after - bonus.budget))
        warnings: list[str] = []
        if over:
            hr = is_hr(principal)
            # A manager is not told the unit's amounts (least data): only that it is over.
            texts = [
                f"exceeds the {kind} budget of {proposal.org_unit} ({currency})" + (f" by {excess}" if hr else "")
                for _field, kind, excess in over
            ]
            if (await PolicyService(self.session).current()).budget_mode == "block":
                raise ValidationFailed(
                    "; ".join(texts),
                    [{"field": field, "message": text} for (field, *_), text in zip(over, texts, strict=True)],
                )
            if data.budget_reason is None:
                raise ValidationFailed.field("budget_reason", "required: this change " + " and ".join(texts))
            warnings = texts
        self._propose(proposal, data.proposed_pct)
        proposal.justification = None if guideline.allows(data.proposed_pct) else data.justification
        if data.bonus_amount is not None:
            proposal.bonus_amount = new_bonus
            proposal.bonus_reason = None if new_bonus == proposal.bonus_computed else data.bonus_reason
        proposal.over_budget_reason = data.budget_reason if over else None
        proposal.edited_by, proposal.edited_at = principal.person_id, utcnow()
        await self.session.flush()
        if is_hr(principal):
            return Edited(proposal, await self.pools(cycle, org_unit=proposal.org_unit), "org_unit", warnings)
        return Edited(proposal, await self.pools(cycle, under=principal.person_id), "own_reports", warnings)

    async def pools(self, cycle: PayCycle, *, org_unit: str | None = None, under: uuid.UUID | None = None) -> Pools:
        """Merit and bonus budgets per currency over a unit's proposals or a manager's reports'.

        Each proposal brings its part of its unit's pool (``rules.pools_of``): its salary x the
        unit's % (the override, else the cycle's), or, in a currency where HR fixed the unit's
        pool, that amount pro rata to its salary; a manager's budget is the sum over their reports.
        """
        overrides = await self.bonuses.overrides(cycle.id)
        pct, rule_of = pool_rules_of(cycle, overrides)
        rows = await self.proposals.money(cycle.id, org_unit, under=under)
        fixed = {unit for unit, override in overrides.items() if override.merit_amounts or override.bonus_amounts}
        # A share of a fixed pool needs its whole unit's payroll, beyond a manager's reports.
        whole = rows if under is None else await self.proposals.money(cycle.id, units=fixed & {r[0] for r in rows})
        payrolls = rules.unit_payrolls((r[0], r[1], r[2], rules.ZERO) for r in whole if r[0] in fixed)
        merit = rules.pools_of(((r[0], r[1], r[2], r[3]) for r in rows), rule_of("merit"), payrolls)
        bonus = rules.pools_of(((r[0], r[1], r[2], r[4]) for r in rows), rule_of("bonus"), payrolls)
        if org_unit is None:
            return Pools(merit, bonus, None, None, len(rows))
        override = overrides.get(org_unit)
        return Pools(
            merit,
            bonus,
            pct("merit", org_unit),
            pct("bonus", org_unit),
            len(rows),
            override_amounts(override, "merit"),
            override_amounts(override, "bonus"),
        )

    async def budget_totals(
        self, cycle_id: uuid.UUID, reporting: str | None, rates_on: date | None
    ) -> CycleBudgetTotals:
        """The cycle's pools and spend per currency, each unit's as its summary shows them, added up;
        with ``reporting``, also their total in that currency beside them."""
        cycle = await self._cycle_or_404(cycle_id)
        overrides = await self.bonuses.overrides(cycle.id)
        _pct, rule_of = pool_rules_of(cycle, overrides)
        rows = await self.proposals.money(cycle.id)
        payrolls = rules.unit_payrolls((r[0], r[1], r[2], rules.ZERO) for r in rows)
        by_unit: dict[str, list[tuple[str, str, Decimal, Decimal, Decimal]]] = defaultdict(list)
        for row in rows:
            by_unit[row[0]].append(row)
        merit = rules.sum_budgets(
            rules.pools_of(((r[0], r[1], r[2], r[3]) for r in lines), rule_of("merit"), payrolls)
            for lines in by_unit.values()
        )
        bonus = rules.sum_budgets(
            rules.pools_of(((r[0], r[1], r[2], r[4]) for r in lines), rule_of("bonus"), payrolls)
            for lines in by_unit.values()
        )
        total, conversion = await self._total(merit, bonus, [r[1] for r in rows], reporting, rates_on)
        return CycleBudgetTotals(
            cycle_id=cycle_id,
            org_units=len(by_unit),
            people=len(rows),
            currencies=[pool_read(merit[c], bonus[c]) for c in merit],
            total=total,
            conversion=conversion,
        )

    async def _total(
        self,
        merit: dict[str, rules.Budget],
        bonus: dict[str, rules.Budget],
        paid_in: list[str],
        reporting: str | None,
        rates_on: date | None,
    ) -> tuple[PoolRead | None, ConversionRead | None]:
        """Per-currency pools as one total in ``reporting`` at the rates in force on ``rates_on`` (today)."""
        if reporting is None:
            return None, None
        on = rates_on or today()
        converter = await ExchangeRateService(self.session).converter(reporting, on, merit)
        total = pool_read(rules.total_in(merit.values(), converter), rules.total_in(bonus.values(), converter))
        return total, conversion_read(converter, paid_in)

    async def manager_budget(self, cycle_id: uuid.UUID, manager_id: uuid.UUID) -> ManagerBudget:
        cycle = await self._cycle_or_404(cycle_id)
        pools = await self.pools(cycle, under=manager_id)
        return ManagerBudget(
            cycle_id=cycle_id,
            manager_id=manager_id,
            people=pools.people,
            currencies=[pool_read(pools.merit[c], pools.bonus[c]) for c in pools.merit],
        )

    async def set_override(self, cycle_id: uuid.UUID, org_unit: str, data: BudgetOverrideUpdate, by: uuid.UUID) -> None:
        cycle = await self._cycle_or_404(cycle_id, for_update=True)
        if cycle.finalized_at is not None:
            raise Conflict(f"Pay cycle {cycle_id} is finalized; its budgets can no longer change.")
        if org_unit not in await self.proposals.org_units(cycle_id):
            raise NotFound(f"Cycle {cycle_id} has no pay proposal in organisation unit {org_unit!r}.")
        override = await self.bonuses.override(cycle_id, org_unit, for_update=True)
        if override is None:
            override = BudgetOverride(cycle_id=cycle_id, org_unit=org_unit, set_by=by)
            await self.bonuses.add(override)
        override.merit_pct, override.bonus_pct, override.reason = data.merit_pct, data.bonus_pct, data.reason
        override.merit_amounts = stored_amounts(data.merit_amounts)
        override.bonus_amounts = stored_amounts(data.bonus_amounts)
        override.set_by = by
        await self.session.flush()

    async def submit(self, cycle_id: uuid.UUID, view: ManagerView, by: uuid.UUID) -> SubmitResult:
        """Submit every draft proposal of the manager's reports at once."""
        await self._cycle_or_404(cycle_id)
        proposals = await self.proposals.of_reports(
            cycle_id, view.manager_id, all_levels=view.all_levels, for_update=True
        )
        if not proposals:
            raise NotFound(f"No pay proposal of a report of {view.manager_id} in cycle {cycle_id}.")
        now = utcnow()
        counts: dict[str, int] = defaultdict(int)
        for proposal in proposals:
            counts[proposal.status] += 1
            if proposal.status == ProposalStatus.draft:
                proposal.status = ProposalStatus.submitted.value
                proposal.submitted_by, proposal.submitted_at = by, now
                add_proposal_event(self.session, proposal, "submitted")
        await self.session.flush()
        return SubmitResult(
            cycle_id=cycle_id,
            manager_id=view.manager_id,
            submitted=counts[ProposalStatus.draft],
            already_submitted=counts[ProposalStatus.submitted] + counts[ProposalStatus.approved],
            needs_data=counts[ProposalStatus.needs_data],
        )

    # HR per organisation unit -------------------------------------------------------------

    async def _cycle_or_404(self, cycle_id: uuid.UUID, *, for_update: bool = False) -> PayCycle:
        cycle = await self.cycles.get(cycle_id, for_update=for_update)
        if cycle is None:
            raise NotFound(f"No pay cycle {cycle_id} is known to the rewards service.")
        return cycle

    async def summary(
        self, cycle_id: uuid.UUID, org_unit: str, reporting: str | None = None, rates_on: date | None = None
    ) -> UnitSummary:
        cycle = await self._cycle_or_404(cycle_id)
        counts = await self.proposals.status_counts(cycle_id, org_unit)
        if not counts:
            raise NotFound(f"Cycle {cycle_id} has no pay proposal in organisation unit {org_unit!r}.")
        approval = (await self.cycles.approvals(cycle_id)).get(org_unit)
        pools = await self.pools(cycle, org_unit=org_unit)
        override = await self.bonuses.override(cycle_id, org_unit)
        paid_in = [row[1] for row in await self.proposals.money(cycle_id, org_unit)] if reporting else []
        total, conversion = await self._total(pools.merit, pools.bonus, paid_in, reporting, rates_on)
        now = today()
        return UnitSummary(
            cycle_id=cycle_id,
            org_unit=org_unit,
            count=sum(counts.values()),
            status_counts={status: counts.get(status, 0) for status in ProposalStatus},
            approved=approval is not None,
            approved_by=approval.approved_by if approval else None,
            approved_at=approval.approved_at if approval else None,
            budget_pct=pools.merit_pct,
            currencies=[budget_read(budget) for budget in pools.merit.values()],
            bonus_budget_pct=pools.bonus_pct,
            bonus=[budget_read(budget) for budget in pools.bonus.values()],
            total=total,
            conversion=conversion,
            merit_amounts=pools.merit_amounts,
            bonus_amounts=pools.bonus_amounts,
            unit_merit_pct=override.merit_pct if override is not None else None,
            unit_bonus_pct=override.bonus_pct if override is not None else None,
            override_reason=override.reason if override is not None else None,
            manager_due=cycle.manager_due,
            hr_due=cycle.hr_due,
            manager_overdue=cycle.manager_due is not None
            and now > cycle.manager_due
            and counts.get(ProposalStatus.draft, 0) > 0,
            hr_overdue=cycle.hr_due is not None and now > cycle.hr_due and approval is None,
        )

    async def approve_unit(self, cycle_id: uuid.UUID, org_unit: str, by: uuid.UUID) -> ApproveResult:
        # The cycle row lock serialises approvals of one cycle, so exactly one of them sees
        # the last unit approved and publishes cycle-rewards.finalized.
        cycle = await self._cycle_or_404(cycle_id, for_update=True)
        approvals = await self.cycles.approvals(cycle_id)
        if org_unit in approvals:
            raise Conflict(f"Organisation unit {org_unit!r} of cycle {cycle_id} is approved already.")
        proposals = await self.proposals.of_unit(cycle_id, org_unit, for_update=True)
        if not proposals:
            raise NotFound(f"Cycle {cycle_id} has no pay proposal in organisation unit {org_unit!r}.")
        waiting: dict[str, int] = defaultdict(int)
        for proposal in proposals:
            if proposal.status != ProposalStatus.submitted:
                waiting[proposal.status] += 1
        if waiting:
            raise Conflict(
                f"Every proposal of {org_unit!r} must be submitted before approval; "
                + ", ".join(f"{count} {status}" for status, count in sorted(waiting.items()))
                + " remain.",
                not_submitted=dict(waiting),
            )
        now = utcnow()
        for proposal in proposals:
            proposal.status = ProposalStatus.approved.value
            proposal.approved_by, proposal.approved_at = by, now
            add_proposal_event(self.session, proposal, "approved")
        await self.cycles.add_approval(
            OrgUnitApproval(
                cycle_id=cycle_id, org_unit=org_unit, approved_by=by, approved_at=now, approved_count=len(proposals)
            )
        )
        units: set[str] = set(await self.proposals.org_units(cycle_id))
        finalized = units <= {*approvals, org_unit} and cycle.finalized_at is None
        if finalized:
            cycle.finalized_at = now
            cycle.approved_count = await self.proposals.count(cycle_id, [ProposalStatus.approved])
            add_cycle_finalized_event(self.session, cycle_id, cycle.approved_count)
        await self.session.flush()
        return ApproveResult(cycle_id=cycle_id, org_unit=org_unit, approved=len(proposals), cycle_finalized=finalized)

    async def return_unit(self, cycle_id: uuid.UUID, org_unit: str, data: ReturnRequest, by: uuid.UUID) -> ReturnResult:
        """Send submitted proposals of a unit back to their managers as drafts, with a reason."""
        await self._cycle_or_404(cycle_id, for_update=True)
        if org_unit in await self.cycles.approvals(cycle_id):
            raise Conflict(f"Organisation unit {org_unit!r} of cycle {cycle_id} is approved; it cannot be returned.")
        proposals = await self.proposals.of_unit(cycle_id, org_unit, for_update=True)
        if not proposals:
            raise NotFound(f"Cycle {cycle_id} has no pay proposal in organisation unit {org_unit!r}.")
        if data.proposal_ids is not None:
            by_id = {proposal.id: proposal for proposal in proposals}
            unknown = [str(pid) for pid in data.proposal_ids if pid not in by_id]
            if unknown:
                raise ValidationFailed.field("proposal_ids", f"not proposals of this unit: {', '.join(unknown)}")
            proposals = [by_id[pid] for pid in dict.fromkeys(data.proposal_ids)]
        chosen = [proposal for proposal in proposals if proposal.status == ProposalStatus.submitted]
        if not chosen:
            raise Conflict(f"No submitted proposal of {org_unit!r} to return.")
        now = utcnow()
        for proposal in chosen:
            proposal.status = ProposalStatus.draft.value
            proposal.submitted_by = proposal.submitted_at = None
            proposal.returned_by, proposal.returned_at, proposal.return_reason = by, now, data.reason
            add_proposal_event(self.session, proposal, "returned")
        await self.session.flush()
        return ReturnResult(cycle_id=cycle_id, org_unit=org_unit, returned=len(chosen))

    # Employees ----------------------------------------------------------------------------

    async def statement(self, cycle_id: uuid.UUID, person_id: uuid.UUID) -> Statement:
        proposal = await self.proposals.get_for(cycle_id, person_id)
        if proposal is None or proposal.status != ProposalStatus.approved:
            raise NotFound(f"No approved pay statement for you in cycle {cycle_id} yet.")
        return statement_of(proposal)

    async def statements(self, person_id: uuid.UUID) -> StatementHistory:
        approved = await self.proposals.of_person(person_id, [ProposalStatus.approved])
        return StatementHistory(person_id=person_id, statements=[statement_of(proposal) for proposal in approved])


def pool_rules_of(
    cycle: PayCycle, overrides: Mapping[str, BudgetOverride]
) -> tuple[Callable[[PoolKind, str], Decimal | None], Callable[[PoolKind], Callable[[str, str], rules.PoolRule]]]:
    """A unit's % of a kind (its override, else the cycle's), and each kind's pool rule per (unit, currency)."""

    def pct(kind: PoolKind, unit: str) -> Decimal | None:
        own = override_pct(overrides.get(unit), kind)
        if own is not None:
            return own
        return cycle.budget_pct if kind == "merit" else cycle.bonus_budget_pct

    def rule_of(kind: PoolKind) -> Callable[[str, str], rules.PoolRule]:
        found: dict[tuple[str, str], rules.PoolRule] = {}

        def rule(unit: str, currency: str) -> rules.PoolRule:
            if (unit, currency) not in found:
                amounts = override_amounts(overrides.get(unit), kind)
                found[unit, currency] = rules.pool_rule(currency, pct(kind, unit), amounts)
            return found[unit, currency]

        return rule

    return pct, rule_of


def statement_of(proposal: PayProposal) -> Statement:
    """An approved proposal as its employee sees it: base before and after, merit, bonus, cash."""
    # An approved proposal went through draft, so its snapshot is complete.
    assert proposal.proposed_salary is not None
    bonus = proposal.bonus_amount or rules.ZERO
    return Statement.model_validate(
        {
            "cycle_id": proposal.cycle_id,
            "person_id": proposal.person_id,
            "rating": proposal.rating,
            "rating_label": proposal.rating_label,
            "scale_min": proposal.scale_min,
            "scale_max": proposal.scale_max,
            "currency": proposal.currency,
            "previous_salary": proposal.current_salary,
            "new_salary": proposal.proposed_salary,
            "increase_pct": proposal.proposed_pct,
            "increase_amount": proposal.increase_amount,
            "bonus_amount": bonus,
            "total_cash": proposal.proposed_salary + bonus,
            "approved_at": proposal.approved_at,
        }
    )


def pool_read(merit: rules.Budget, bonus: rules.Budget) -> PoolRead:
    return PoolRead(
        currency=merit.currency,
        payroll=merit.payroll,
        merit_proposed=merit.proposed,
        merit_budget=merit.budget,
        merit_remaining=merit.remaining,
        bonus_proposed=bonus.proposed,
        bonus_budget=bonus.budget,
        bonus_remaining=bonus.remaining,
        merit_basis=merit.basis,
        bonus_basis=bonus.basis,
    )


def budget_read(budget: rules.Budget) -> BudgetRead:
    return BudgetRead(
        currency=budget.currency,
        payroll=budget.payroll,
        proposed_increase=budget.proposed,
        budget=budget.budget,
        remaining=budget.remaining,
        basis=budget.basis,
    )
