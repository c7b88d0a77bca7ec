"""A round trip through the worker: how ``meritloop up`` and probes know the worker serves."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow


class PingInput(BaseModel):
    message: str


class PingResult(BaseModel):
    message: str
    task_queue: str


@activity.defn
async def echo(value: PingInput) -> PingResult:
    return PingResult(message=value.message, task_queue=activity.info().task_queue)


@workflow.defn
class PingWorkflow:
    @workflow.run
    async def run(self, value: PingInput) -> PingResult:
        return await workflow.execute_activity(echo, value, start_to_close_timeout=timedelta(seconds=10))
