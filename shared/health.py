"""``/healthz`` says the process is alive; ``/readyz`` that its database and NATS answer."""

from __future__ import annotations

import asyncio

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
