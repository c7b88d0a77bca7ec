"""The rewards service's Temporal client, made on first use (the API starts and updates chains).

The reviews service has the same small holder; services never import each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import NoReturn, TypeVar

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from shared.errors import Problem, ServiceUnavailable
from shared.settings import Settings
from workflows.client import UpdateRefusal, connect, refusal_of

_clients: dict[tuple[str, str], Client] = {}
_lock = asyncio.Lock()


async def client(settings: Settings) -> Client:
    key = (settings.temporal_address, settings.temporal_namespace)
    found = _clients.get(key)
    if found is not None:
        return found
    async with _lock:
        found = _clients.get(key)
        if found is None:
            try:
                found = await asyncio.wait_for(connect(settings), timeout=10)
            except (TimeoutError, RuntimeError, RPCError) as exc:
                raise ServiceUnavailable("The workflow engine cannot be reached; try again shortly.") from exc
            _clients[key] = found
        return found


def forget() -> None:
    _clients.clear()


class DecisionRefused(Problem):
    """The chain refused the decision: the status and ``reason`` come from its refusal code."""

    def __init__(self, refusal: UpdateRefusal) -> None:
        super().__init__(refusal.message, reason=refusal.code.value)
        self.status = refusal.status
        self.type_name = f"approval-{refusal.code.value.replace('_', '-')}"
        self.title = {403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Validation Error"}.get(
            refusal.status, "Refused"
        )


T = TypeVar("T")


async def deliver(settings: Settings, call: Awaitable[T]) -> T:
    """Await an Update: a refusal becomes its 4xx problem, silence a 503."""
    try:
        return await asyncio.wait_for(call, timeout=settings.cycle_update_timeout)
    except TimeoutError as exc:
        raise ServiceUnavailable("The approval workflow did not answer in time; try again.") from exc
    except Exception as exc:  # noqa: BLE001 - sorted out below
        _raise(exc)


def _raise(error: BaseException) -> NoReturn:
    refusal = refusal_of(error)
    if refusal is not None:
        raise DecisionRefused(refusal) from error
    if isinstance(error, (RPCError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError)):
        raise ServiceUnavailable("The approval workflow did not answer; try again shortly.") from error
    raise error
