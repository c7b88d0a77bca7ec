"""Helpers of the hardening tests."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


async def health_while(client: httpx.AsyncClient, work: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    """Run ``work`` while probing ``/healthz``; its result and the longest time without a health answer.

    The gap between answers, not a request's own latency: a blocked event loop also delays
    the probe's next start, which a latency alone would not see.
    """
    answered = [time.perf_counter()]
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            assert (await client.get("/healthz")).status_code == 200
            answered.append(time.perf_counter())
            await asyncio.sleep(0.005)

    prober = asyncio.create_task(probe())
    await asyncio.sleep(0.02)
    try:
        result = await work()
    finally:
        stop.set()
        await prober
    return result, max(later - earlier for earlier, later in itertools.pairwise(answered))
