"""The feedback service's periodic sweeps (reminders, closing due upward pulses): every
``MERITLOOP_FEEDBACK_REMINDER_INTERVAL`` seconds, 0 turns them off (``shared.sweeps``)."""

from __future__ import annotations

from fastapi import APIRouter

from shared.sweeps import Round
from shared.sweeps import sweep_router as periodic_sweep


def sweep_router(name: str, sweep: Round) -> APIRouter:
    return periodic_sweep(f"feedback-{name}", sweep, lambda settings: settings.feedback_reminder_interval)
