"""Task completion benchmark: p50/p99 latency of submitting a task through the HTTP API, 20 users at once.

    python -m bench.task_complete [--participants 400] [--users 20] [--depth 4]
                                  [--temporal-address HOST:PORT] [--nats-url URL] [--database-url URL]

Servers and databases as in ``bench.cycle_launch`` (its own Temporal dev server on SQLite WAL
and nats-server in a temporary folder unless addresses are given). Then:

1. Imports an organisation of ``--participants`` people, starts the reviews service under
   uvicorn in a subprocess (uvloop/httptools when installed; it runs the reviews activities)
   and the workflow worker in a subprocess; creates a scale, a template and a cycle over HTTP
   and launches it; waits until every self-assessment task exists, every review runs and
   every review has run its first workflow task (the worker holds it in its cache).
2. The load: ``--users`` concurrent virtual users (one ``httpx.AsyncClient`` each, in this
   process, which is not the server's) take the next task and ``POST /tasks/{id}/submit`` it
   with the assignee's own token (the answers are validated and stored, the workflow's
   ``complete_task`` Update answers, the row is marked done). One sequential
   warm-up submit (the service's first Temporal connection) is left out of the figures.
   Then it waits until every submitted person's manager review exists.
3. The bare platform in the same run, same server: as many trivial workflows with an Update
   handler (no activity, unsandboxed, default converter) started beforehand and waited for
   until each has run its first workflow task, then one ``execute_update`` round trip each
   with the same concurrency from this process.

Prints p50/p99/max latency and throughput of both and the ratios; the CPU seconds of every
process over each load (this one, Temporal, NATS, uvicorn, the worker; not a PostgreSQL
server's); the review and cycle history events per submit; and per submit the time from its
answer to the creation of the next task (the manager review).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select
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
from workflows.models import cycle_workflow_id, review_workflow_id

MANAGER = "manager_review"


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


def _children() -> dict[int, str]:
    """This process's child processes (pid: short name), from /proc."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != os.getpid():
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in argv if word]
        name = "temporal" if "temporal" in words[0] else "nats" if "nats" in words[0] else words[-1]
        if "uvicorn" in words:
            name = "uvicorn"
        found[int(entry)] = name.removeprefix("_")
    return found


def _cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds of this process and of each child (Temporal, NATS, uvicorn, workers) over a span."""

    def __init__(self) -> None:
        self.names = _children()
        self.began = {pid: _cpu(pid) for pid in self.names}
        self.own = time.process_time()

    def stop(self) -> dict[str, float]:
        spent = {"bench client": time.process_time() - self.own}
        for pid, name in self.names.items():
            spent[name] = spent.get(name, 0.0) + _cpu(pid) - self.began[pid]
        return {name: seconds for name, seconds in spent.items() if seconds > 0.005}

    @staticmethod
    def line(spent: dict[str, float], count: int) -> str:
        total = sum(spent.values())
        parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]))
        return f"{total:.1f} s ({total / count * 1000:.1f} ms per call): {parts}" if count else parts


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


async def wait_for_first_tasks(client: Client, workflow_ids: Sequence[str], timeout: float) -> float:
    """Until every workflow has run its first workflow task (the worker holds it in its cache).

    A started review counts as running for the cycle before the worker has run it once;
    measured then, a submit queues behind the first activations of hundreds of reviews (sandbox
    set-up and all), which a submit long after the launch never meets. Both sides wait so."""
    started = time.perf_counter()
    waiting = list(workflow_ids)
    while waiting:
        pending: list[str] = []
        for start in range(0, len(waiting), 50):
            batch = waiting[start : start + 50]
            described = await asyncio.gather(*(client.get_workflow_handle(wid).describe() for wid in batch))
            pending += [
                wid
                for wid, description in zip(batch, described, strict=True)
                if description.raw_description.HasField("pending_workflow_task") or description.history_length < 4
            ]
        waiting = pending
        if waiting:
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"{len(waiting)} workflows never ran their first workflow task")
            await asyncio.sleep(0.5)
    return time.perf_counter() - started


async def history_lengths(client: Client, reviews: Sequence[str], cycle: str) -> tuple[int, int, str]:
    """Events in the reviews' histories (all) and the cycle's current run (and that run's id)."""
    total = 0
    for start in range(0, len(reviews), 50):
        described = await asyncio.gather(
            *(client.get_workflow_handle(wid).describe() for wid in reviews[start : start + 50])
        )
        total += sum(description.history_length for description in described)
    description = await client.get_workflow_handle(cycle).describe()
    return total, description.history_length, description.run_id


async def next_task_lags(
    sessionmaker: async_sessionmaker[AsyncSession], cycle_id: str, answered: dict[uuid.UUID, float]
) -> list[float]:
    """Per submit: seconds from its answer to the creation of the person's manager review."""
    async with sessionmaker() as session:
        rows = await session.execute(
            select(ReviewTask.person_id, ReviewTask.created_at).where(
                ReviewTask.cycle_id == uuid.UUID(cycle_id), ReviewTask.step == MANAGER
            )
        )
        return [created.timestamp() - answered[person] for person, created in rows.all() if person in answered]


async def count_step(sessionmaker: async_sessionmaker[AsyncSession], cycle_id: str, step: str) -> int:
    async with sessionmaker() as session:
        found = await session.scalar(
            select(func.count()).where(ReviewTask.cycle_id == uuid.UUID(cycle_id), ReviewTask.step == step)
        )
        return int(found or 0)


async def bare_updates(address: str, count: int, users: int) -> tuple[Load, dict[str, float]]:
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
    waited = await wait_for_first_tasks(client, ids, 120)
    log(f"  every bare workflow ran its first workflow task {waited:.1f} s after the last start")
    await handles[ids[0]].execute_update(UpdatableWorkflow.touch, "warm")  # first round trip, left out

    async def update(_user: int, workflow_id: str) -> str | None:
        try:
            await handles[workflow_id].execute_update(UpdatableWorkflow.touch, workflow_id)
        except Exception as error:  # noqa: BLE001 - counted
            return type(error).__name__
        return None

    meter = CpuMeter()
    load = await drive(ids[1:], users, update)
    spent = meter.stop()
    for start in range(0, len(ids), 100):
        await asyncio.gather(*(handles[wid].signal(UpdatableWorkflow.finish) for wid in ids[start : start + 100]))
    return load, spent


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
        temporal = await Client.connect(settings.temporal_address)
        reviews = [review_workflow_id(cycle_id, str(assignee)) for _, assignee in tasks]
        activated_after = await wait_for_first_tasks(temporal, reviews, args.timeout)
        log(f"  every review ran its first workflow task {activated_after:.1f} s later")
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

            persons = {str(task): assignee for task, assignee in tasks}
            answered: dict[uuid.UUID, float] = {}  # person: when their submit answered (wall clock)

            async def submit(user: int, task: str) -> str | None:
                try:
                    response = await clients[user].post(f"/tasks/{task}/submit", json=ANSWERS, headers=tokens[task])
                except httpx.HTTPError as error:
                    return type(error).__name__
                if response.status_code != 200 or response.json().get("status") != "done":
                    return f"{response.status_code} {response.json().get('reason', '')}".strip()
                answered[persons[task]] = time.time()
                return None

            log(f"submitting {len(tasks) - 1} self-assessments through the API, {args.users} users at once ...")
            events_before = await history_lengths(temporal, reviews, cycle_workflow_id(cycle_id))
            meter = CpuMeter()
            api_load = await drive([task for task, _ in tasks[1:]], args.users, submit)
            api_cpu = meter.stop()
            # The next tasks come after the answers (the review's activity): how long after the
            # last submit they all exist, and the CPU of the whole, tail included.
            engine = create_engine(settings.database_url("reviews"))
            sessionmaker = create_sessionmaker(engine)
            ended = time.perf_counter()
            expected = len(api_load.latencies) + (1 if warm.status_code == 200 else 0)
            following = 0
            while time.perf_counter() - ended < 120:
                following = await count_step(sessionmaker, cycle_id, MANAGER)
                if following >= expected:
                    break
                await asyncio.sleep(0.1)
            tail = time.perf_counter() - ended
            lags = await next_task_lags(sessionmaker, cycle_id, answered)
            total_cpu = meter.stop()
            events_after = await history_lengths(temporal, reviews, cycle_workflow_id(cycle_id))
            await engine.dispose()
        finally:
            for client in clients:
                await client.aclose()
        stop_process(worker)

        log(f"bare platform: Update round trips on the same server, {args.users} at once ...")
        bare_worker = start_worker(env, "bare")
        env.stack.callback(stop_process, bare_worker)
        bare, bare_cpu = await bare_updates(settings.temporal_address, len(tasks) - 1, args.users)
        stop_process(bare_worker)

    print()
    print(f"task completion benchmark: {participants:,} self-assessments, {args.users} concurrent users")
    print(api_load.line("POST /tasks/{id}/submit (uvicorn subprocess)"))
    print(bare.line("bare Temporal Update round trip (no activity)"))
    if api_load.latencies and bare.latencies:
        p50 = statistics.median(api_load.latencies) / statistics.median(bare.latencies)
        p99 = percentile(api_load.latencies, 0.99) / percentile(bare.latencies, 0.99)
        print(f"  ratio API / bare: p50 {p50:.1f}x, p99 {p99:.1f}x, throughput {bare.rate / api_load.rate:.1f}x lower")
    # CPU seconds over each load (the submits' background work still running is counted while
    # the load lasts): they move less with the neighbours' load than the latencies do.
    print(f"  CPU during the submits: {CpuMeter.line(api_cpu, len(api_load.latencies))}")
    print(
        f"  next tasks: {following}/{expected} manager reviews {tail:.1f} s after the last submit; CPU with that tail: "
        f"{CpuMeter.line(total_cpu, len(api_load.latencies))}"
    )
    if lags:
        ms = [lag * 1000 for lag in lags]
        print(
            f"  next task created after the submit answered: p50 {statistics.median(ms):.0f} ms, "
            f"p99 {percentile(ms, 0.99):.0f} ms, max {max(ms):.0f} ms, min {min(ms):.0f} ms ({len(ms)} tasks)"
        )
    reviews_events = events_after[0] - events_before[0]
    cycle_events = events_after[1] - events_before[1] if events_after[2] == events_before[2] else None
    submitted = len(api_load.latencies) or 1
    print(
        f"  history events per submit: reviews {reviews_events / submitted:.1f}, cycle "
        + ("(continued as new)" if cycle_events is None else f"{cycle_events / submitted:.1f}")
    )
    print(f"  CPU during the bare Updates: {CpuMeter.line(bare_cpu, len(bare.latencies))}")
    print(f"  load average at the end: {' '.join(f'{value:.1f}' for value in os.getloadavg())}")


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
