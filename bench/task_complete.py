"""Task completion benchmark: p50/p99 latency of submitting a task through the HTTP API, 20 users at once.

    python -m bench.task_complete [--participants 400] [--users 20] [--depth 4]
                                  [--temporal-address HOST:PORT] [--nats-url URL] [--database-url URL]

Servers and databases as in ``bench.cycle_launch`` (its own Temporal dev server on SQLite WAL
and nats-server in a temporary folder unless addresses are given). Then:

1. Imports an organisation of ``--participants`` people, starts the reviews service under
   uvicorn in a subprocess (uvloop/httptools when installed; it runs the reviews activities)
   and the workflow worker in a subprocess; creates a scale, a template and a cycle over HTTP
   and launches it; waits until every self-assessment task exists and every review runs.
2. The load: ``--users`` concurrent virtual users (one ``httpx.AsyncClient`` each, in this
   process, which is not the server's) take the next task and ``POST /tasks/{id}/submit`` it
   with the assignee's own token (the answers are validated and stored, the workflow's
   ``complete_task`` Update answers, the row is marked done). One sequential
   warm-up submit (the service's first Temporal connection) is left out of the figures.
3. The bare platform in the same run, same server: as many trivial workflows with an Update
   handler (no activity, unsandboxed, default converter) started beforehand, then one
   ``execute_update`` round trip each with the same concurrency from this process.

Prints p50/p99/max latency and throughput of both and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle

from bench.cycle_launch import (
    ANSWERS,
    BARE_QUEUE,
    SELF,
    UpdatableWorkflow,
    create_cycle,
    environment,
    hr_headers,
    import_directory,
    log,
    percentile,
    spawn,
    start_worker,
    wait_for_reviews,
    wait_for_tasks,
)
from services.reviews.models import ReviewTask
from shared.auth import Role, mint_token
from shared.database import create_engine, create_sessionmaker
from tests.support.processes import free_port, stop_process, wait_for_port


@dataclass
class Load:
    latencies: list[float]
    seconds: float
    errors: dict[str, int]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def line(self, name: str) -> str:
        ms = [value * 1000 for value in self.latencies]
        if not ms:
            return f"  {name:<44} no successful calls; errors {self.errors}"
        text = (
            f"  {name:<44} p50 {statistics.median(ms):7.1f} ms  p99 {percentile(ms, 0.99):7.1f} ms  "
            f"max {max(ms):7.1f} ms  {self.rate:6.1f} /s  ({len(ms)} ok"
        )
        return text + (f", errors {self.errors})" if self.errors else ")")


async def drive(items: Sequence[str], users: int, call: Callable[[int, str], Awaitable[str | None]]) -> Load:
    """``users`` loops taking the next item; ``call`` returns None on success or an error label."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue = list(reversed(items))

    async def user(number: int) -> None:
        while queue:
            item = queue.pop()
            began = time.perf_counter()
            error = await call(number, item)
            if error is None:
                latencies.append(time.perf_counter() - began)
            else:
                errors[error] = errors.get(error, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(user(number) for number in range(users)))
    return Load(latencies, time.perf_counter() - started, errors)


async def open_tasks(sessionmaker: async_sessionmaker[AsyncSession], cycle_id: str) -> list[tuple[str, uuid.UUID]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(ReviewTask.id, ReviewTask.assignee_id)
            .where(ReviewTask.cycle_id == uuid.UUID(cycle_id), ReviewTask.step == SELF)
            .order_by(ReviewTask.id)
        )
        return [(task, assignee) for task, assignee in rows.all()]


async def bare_updates(address: str, count: int, users: int) -> Load:
    client = await Client.connect(address)
    prefix = uuid.uuid4().hex[:8]
    log(f"  starting {count} bare workflows with an Update handler ...")
    handles: dict[str, WorkflowHandle[UpdatableWorkflow, int]] = {}
    for start in range(0, count + 1, 50):
        batch = [f"bare-update-{prefix}-{n}" for n in range(start, min(count + 1, start + 50))]
        started = await asyncio.gather(
            *(client.start_workflow(UpdatableWorkflow.run, id=wid, task_queue=BARE_QUEUE) for wid in batch)
        )
        handles.update(zip(batch, started, strict=True))
    ids = list(handles)
    await handles[ids[0]].execute_update(UpdatableWorkflow.touch, "warm")  # first round trip, left out

    async def update(_user: int, workflow_id: str) -> str | None:
        try:
            await handles[workflow_id].execute_update(UpdatableWorkflow.touch, workflow_id)
        except Exception as error:  # noqa: BLE001 - counted
            return type(error).__name__
        return None

    load = await drive(ids[1:], users, update)
    for start in range(0, len(ids), 100):
        await asyncio.gather(*(handles[wid].signal(UpdatableWorkflow.finish) for wid in ids[start : start + 100]))
    return load


async def run(args: argparse.Namespace) -> None:
    import importlib.util

    async with environment(args, "meritloop-bench-tasks-") as env:
        settings = env.settings
        await import_directory(settings, args.participants, args.depth)
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "--factory", "services.reviews.app:create"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        if importlib.util.find_spec("uvloop") is not None:
            argv += ["--loop", "uvloop"]
        if importlib.util.find_spec("httptools") is not None:
            argv += ["--http", "httptools"]
        log(f"starting the reviews service under uvicorn (subprocess, port {port}) and the worker ...")
        server = spawn(env, "reviews", argv)
        env.stack.callback(stop_process, server)
        worker = start_worker(env, "cycle")
        env.stack.callback(stop_process, worker)
        await asyncio.to_thread(wait_for_port, port, timeout=60.0, process=server)
        engine = create_engine(settings.database_url("reviews"))
        sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        hr = hr_headers(settings)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=120) as api:
            cycle_id = await create_cycle(api, hr)
            started = time.perf_counter()
            launched = await api.post(f"/review-cycles/{cycle_id}/launch", headers=hr)
            if launched.status_code != 200:
                raise SystemExit(f"launch: {launched.status_code} {launched.text}")
            participants = int(launched.json()["participant_count"])
            log(f"launched a cycle of {participants:,}; waiting for the self-assessment tasks ...")
            waited = await wait_for_tasks(sessionmaker, cycle_id, participants, started, args.timeout)
            if not waited.complete:
                raise SystemExit("the tasks did not all appear in time")
            # The reviews start behind the tasks; measure submits to running reviews (the plain Update).
            if await wait_for_reviews(settings, cycle_id, participants, started, args.timeout) is None:
                raise SystemExit("the reviews did not all start in time")
        tasks = await open_tasks(sessionmaker, cycle_id)
        await engine.dispose()
        tokens = {
            str(task): {"Authorization": f"Bearer {mint_token(settings, assignee, (Role.employee, Role.manager))}"}
            for task, assignee in tasks
        }
        clients = [httpx.AsyncClient(base_url=base, timeout=120) for _ in range(args.users)]
        try:
            first = tasks[0][0]
            began = time.perf_counter()
            warm = await clients[0].post(f"/tasks/{first}/submit", json=ANSWERS, headers=tokens[first])
            log(f"warm-up submit: {warm.status_code} in {(time.perf_counter() - began) * 1000:.0f} ms")

            async def submit(user: int, task: str) -> str | None:
                try:
                    response = await clients[user].post(f"/tasks/{task}/submit", json=ANSWERS, headers=tokens[task])
                except httpx.HTTPError as error:
                    return type(error).__name__
                if response.status_code != 200 or response.json().get("status") != "done":
                    return f"{response.status_code} {response.json().get('reason', '')}".strip()
                return None

            log(f"submitting {len(tasks) - 1} self-assessments through the API, {args.users} users at once ...")
            api_load = await drive([task for task, _ in tasks[1:]], args.users, submit)
        finally:
            for client in clients:
                await client.aclose()
        stop_process(worker)

        log(f"bare platform: Update round trips on the same server, {args.users} at once ...")
        bare_worker = start_worker(env, "bare")
        env.stack.callback(stop_process, bare_worker)
        bare = await bare_updates(settings.temporal_address, len(tasks) - 1, args.users)
        stop_process(bare_worker)

    print()
    print(f"task completion benchmark: {participants:,} self-assessments, {args.users} concurrent users")
    print(api_load.line("POST /tasks/{id}/submit (uvicorn subprocess)"))
    print(bare.line("bare Temporal Update round trip (no activity)"))
    if api_load.latencies and bare.latencies:
        p50 = statistics.median(api_load.latencies) / statistics.median(bare.latencies)
        p99 = percentile(api_load.latencies, 0.99) / percentile(bare.latencies, 0.99)
        print(f"  ratio API / bare: p50 {p50:.1f}x, p99 {p99:.1f}x, throughput {bare.rate / api_load.rate:.1f}x lower")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=400)
    parser.add_argument("--users", type=int, default=20, help="concurrent virtual users")
    parser.add_argument("--depth", type=int, default=4, help="levels of the generated organisation")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the tasks to exist")
    parser.add_argument("--temporal-address", help="a running Temporal (default: start a dev server)")
    parser.add_argument("--nats-url", help="a running NATS with JetStream (default: start one)")
    parser.add_argument("--database-url", help="an empty reviews database (default: SQLite WAL in a temp folder)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
