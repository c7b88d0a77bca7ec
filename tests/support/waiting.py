"""Polling with a deadline, for effects that cross a process or a network hop."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def wait_until(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str = ...,
) -> T: ...
@overload
async def wait_until(
    probe: Callable[[], T | None], *, timeout: float = ..., interval: float = ..., message: str = ...
) -> T: ...
async def wait_until(
    probe: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"
) -> Any:
    """Call ``probe`` (sync or async) until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        last = value
        await asyncio.sleep(interval)
    raise AssertionError(f"{message} not met within {timeout}s (last value: {last!r})")
