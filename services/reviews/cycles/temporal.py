"""The reviews service's Temporal client: connected on first use, shared by the API and consumers.

The app factory knows nothing of Temporal, so the client is not made in the lifespan: the
first request (or consumer) that needs it connects, with the worker's data converter
(pydantic) and tracing interceptor, and later callers reuse it. A connection that fails is
not cached: the next call tries again (the API answers 503 meanwhile).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeVar

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from shared.errors import Problem, ServiceUnavailable
from shared.settings import Settings, get_settings
from workflows.client import UpdateRefusal, connect, refusal_of


class TemporalHolder:
    """One client per (address, namespace), made lazily."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], Client] = {}
        self._lock = asyncio.Lock()
        self.default_settings: Settings | None = None

    async def client(self, settings: Settings | None = None) -> Client:
        settings = settings or self.default_settings or get_settings()
        if self.default_settings is None:
            self.default_settings = settings
        key = (settings.temporal_address, settings.temporal_namespace)
        found = self._clients.get(key)
        if found is not None:
            return found
        async with self._lock:
            found = self._clients.get(key)
            if found is None:
                try:
                    found = await asyncio.wait_for(connect(settings), timeout=10)
                except (TimeoutError, RuntimeError, RPCError) as exc:
                    raise ServiceUnavailable("The workflow engine cannot be reached; try again shortly.") from exc
                self._clients[key] = found
            return found

    def settings(self) -> Settings:
        """The settings the client is (or will be) made from."""
        return self.default_settings or get_settings()

    def forget(self) -> None:
        self._clients.clear()


holder = TemporalHolder()


class UpdateRefused(Problem):
    """A workflow refused an Update: the status and ``reason`` come from its refusal code."""

    def __init__(self, refusal: UpdateRefusal, **extensions: Any) -> None:
        super().__init__(refusal.message, reason=refusal.code.value, **extensions)
        self.status = refusal.status
        self.type_name = f"cycle-{refusal.code.value.replace('_', '-')}"
        self.title = {
            403: "Forbidden",
            404: "Not Found",
            409: "Conflict",
            422: "Validation Error",
        }.get(refusal.status, "Refused")


def raise_refusal(error: BaseException) -> NoReturn:
    """Turn a failed Update into a problem: a refusal is a 4xx naming its reason, the rest 503."""
    refusal = refusal_of(error)
    if refusal is not None:
        raise UpdateRefused(refusal) from error
    # asyncio.wait_for cancels a waiting Update on timeout; the SDK turns that cancellation into
    # WorkflowUpdateRPCTimeoutOrCancelledError, which is "no answer in time" too (was a 500).
    if isinstance(error, (RPCError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError)):
        raise ServiceUnavailable("The review workflow did not answer; try again shortly.") from error
    raise error


T = TypeVar("T")


async def deliver(settings: Settings, call: Awaitable[T]) -> T:
    """Await an Update (or query); refusals become 4xx problems, silence a 503."""
    try:
        return await asyncio.wait_for(call, timeout=settings.cycle_update_timeout)
    except TimeoutError as exc:
        raise ServiceUnavailable("The review workflow did not answer in time; try again.") from exc
    except Exception as exc:  # noqa: BLE001 - sorted out by raise_refusal
        raise_refusal(exc)
