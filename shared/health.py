"""``/healthz`` says the process is alive; ``/readyz`` that its database and NATS answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from shared.database import ping
from shared.errors import PROBLEM_JSON
from shared.openapi import problems

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database and NATS reachable", responses=problems(503))
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(ping(state.engine), timeout=2.0)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"unreachable: {type(exc).__name__}: {exc}"
    checks["nats"] = "ok" if state.bus.is_connected else f"unreachable at {state.bus.url}"
    failing = {name: reason for name, reason in checks.items() if reason != "ok"}
    if not failing:
        return JSONResponse({"status": "ready", "checks": checks})
    detail = "; ".join(f"{name} {reason}" for name, reason in failing.items())
    return JSONResponse(
        {
            "type": "https://meritloop.dev/problems/not-ready",
            "title": "Service Unavailable",
            "status": 503,
            "detail": detail,
            "checks": checks,
        },
        status_code=503,
        media_type=PROBLEM_JSON,
    )


# --------------------------------------------------------------------------- processes without an API

# Why a process is not ready, or None when it is.
ReadinessCheck = Callable[[], Awaitable[str | None]]
PROBE_READ_TIMEOUT = 2.0


async def serve_probes(host: str, port: int, ready: ReadinessCheck) -> asyncio.Server:
    """``/healthz`` and ``/readyz`` over bare HTTP/1.1 for a process that serves no API (the worker).

    Liveness is the event loop answering at all; readiness is ``ready``. Anything else is 404.
    """

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), PROBE_READ_TIMEOUT)
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 and parts[0] in ("GET", "HEAD") else ""
            if path == "/healthz":
                status, body = 200, {"status": "ok"}
            elif path == "/readyz":
                reason = await ready()
                status, body = (200, {"status": "ready"}) if reason is None else (503, {"status": reason})
            else:
                status, body = 404, {"status": "not found"}
            payload = json.dumps(body).encode()
            phrase = {200: "OK", 503: "Service Unavailable", 404: "Not Found"}[status]
            head = (
                f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + payload)
            await writer.drain()
        except (TimeoutError, OSError, UnicodeError):
            pass  # a probe that hung up or sent nothing: nobody to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port)
