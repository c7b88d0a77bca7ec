"""Review-cycle launch benchmark: launch a cycle for N people and time until every self-assessment exists.

    python -m bench.cycle_launch [--participants 10000] [--depth 6] [--timeout 1800]
                                 [--bare-count 2000] [--bare-in-flight 50]
                                 [--temporal-address HOST:PORT] [--nats-url URL] [--database-url URL]

Unless given addresses, it starts its own servers on free ports in a temporary folder: a
``temporal server start-dev`` on a SQLite file in WAL mode (``synchronous=NORMAL``, one task
queue partition) and a ``nats-server`` with JetStream. The reviews and rewards databases are
SQLite (WAL) in the same folder unless ``--database-url`` names an empty reviews database.

1. Generates an organisation of ``--participants`` people (bench.people's generator) and
   imports it through the directory importer's service layer in-process.
2. Through the reviews API (the real app in-process over ``httpx.ASGITransport``, lifespan and
   outbox relay running): a rating scale, a published template and a cycle with every active
   person as participant.
3. Starts a worker in a subprocess (``workflows.worker.build_worker`` with the real
   ``ReviewsActivities`` and ``RewardsActivities``), then ``POST /review-cycles/{id}/launch``
   and polls the ``review_tasks`` table until N self-assessment tasks exist (progress lines).
4. Reports the time to all tasks, tasks/s, and the cycle workflow's history: the current run's
   event count, the number of runs (continue-as-new) and the events of all runs.
5. The bare platform in the same run, on the same server: ``--bare-count`` trivial workflows
   (no activity, unsandboxed, default converter) started and awaited with ``--bare-in-flight``
   in flight, run by a worker subprocess of their own: wf/s, and tasks/s / wf/s.

A run past ``--timeout`` seconds stops waiting and reports what it has (partial figures).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.people import generate, to_csv
from meritloop.launcher import TEMPORAL_DEV_TUNING, binary
from services.reviews.directory.importer import import_people, parse_records
from services.reviews.models import ReviewTask
from shared.auth import Role, mint_token
from shared.database import create_engine, create_sessionmaker, utcnow
from shared.migrations import upgrade
from shared.settings import SERVICES, Environment, Settings
from tests.support.processes import NatsServer, free_port, stop_process, wait_for_port

BARE_QUEUE = "bench-bare"
SELF = "self_assessment"
ANSWERS: dict[str, Any] = {
    "answers": [{"item": "craft", "value": 4}, {"item": "ownership", "value": 3}, {"item": "impact", "value": 4}]
}


def log(message: str) -> None:
    print(message, flush=True)


def quiet() -> None:
    """The in-process app's consumers retry streams nobody created here; their warnings are noise."""
    for name in ("shared.events", "asyncio", "httpx"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# --- the bare platform's workflows -----------------------------------------------------------


@workflow.defn(name="BenchTrivial")
class TrivialWorkflow:
    """Starts and completes: no activity, no timer."""

    @workflow.run
    async def run(self) -> str:
        return "done"


@workflow.defn(name="BenchUpdatable")
class UpdatableWorkflow:
    """Waits until told to finish; its Update handler answers at once (no activity)."""

    def __init__(self) -> None:
        self._finish = False
        self._updates = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._finish)
        return self._updates

    @workflow.update
    def touch(self, value: str) -> str:
        self._updates += 1
        return value

    @workflow.signal
    def finish(self) -> None:
        self._finish = True


# --- servers ---------------------------------------------------------------------------------


@dataclass
class TemporalDev:
    """``temporal server start-dev`` on a SQLite file in WAL mode, one task-queue partition."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--headless",
            "--db-filename",
            str(self.workdir / "temporal.db"),
            *TEMPORAL_DEV_TUNING,
        ]
        output = (self.workdir / "temporal.log").open("ab")
        self.process = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.workdir
        )
        wait_for_port(self.port, timeout=60.0, process=self.process)
        deadline = time.monotonic() + 60
        command = [binary("temporal"), "operator", "namespace", "describe", "-n", "default", "--address", self.address]
        while time.monotonic() < deadline:  # the port opens before the namespace serves
            if subprocess.run(command, capture_output=True, timeout=10, check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError("the Temporal dev server did not serve the default namespace")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@dataclass
class BenchEnv:
    """Where everything runs: addresses, database URLs, the settings the services and worker get."""

    workdir: Path
    settings: Settings
    stack: AsyncExitStack

    def env(self, *, databases: bool = True) -> dict[str, str]:
        """The settings as MERITLOOP_* variables, for a subprocess (worker, uvicorn); the workflow
        worker gets no database URL (``databases=False``)."""
        s = self.settings
        values = {
            "MERITLOOP_ENVIRONMENT": s.environment.value,
            "MERITLOOP_DATA_DIR": str(s.data_dir),
            "MERITLOOP_NATS_URL": s.nats_url,
            "MERITLOOP_TEMPORAL_ADDRESS": s.temporal_address,
            "MERITLOOP_TEMPORAL_TASK_QUEUE": s.temporal_task_queue,
            "MERITLOOP_TEMPORAL_REVIEWS_TASK_QUEUE": s.temporal_reviews_task_queue,
            "MERITLOOP_TEMPORAL_REWARDS_TASK_QUEUE": s.temporal_rewards_task_queue,
            "MERITLOOP_LOG_LEVEL": "WARNING",
        }
        if databases:
            values |= {f"MERITLOOP_{name.upper()}_DATABASE_URL": s.database_url(name) for name in SERVICES}
        environ = {k: v for k, v in os.environ.items() if databases or not k.endswith("_DATABASE_URL")}
        return {**environ, **values}


@asynccontextmanager
async def environment(args: argparse.Namespace, prefix: str) -> AsyncIterator[BenchEnv]:
    """Servers (unless given), migrated databases and the settings pointing at them."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    async with AsyncExitStack() as stack:
        temporal_address = args.temporal_address
        if temporal_address is None:
            temporal = TemporalDev(workdir / "temporal")
            log("starting temporal server start-dev (SQLite WAL, synchronous=NORMAL, 1 partition) ...")
            temporal.start()
            stack.callback(temporal.stop)
            temporal_address = temporal.address
        nats_url = args.nats_url
        if nats_url is None:
            nats = NatsServer(store=workdir / "nats")
            log("starting nats-server -js ...")
            nats.start()
            stack.callback(nats.stop)
            nats_url = nats.url
        suffix = uuid.uuid4().hex[:8]
        settings = Settings(
            environment=Environment.development,
            data_dir=workdir,
            nats_url=nats_url,
            temporal_address=temporal_address,
            temporal_task_queue=f"bench-{suffix}",
            temporal_reviews_task_queue=f"bench-reviews-{suffix}",
            temporal_rewards_task_queue=f"bench-rewards-{suffix}",
            reviews_database_url=args.database_url or f"sqlite+aiosqlite:///{workdir / 'reviews.db'}",
            rewards_database_url=f"sqlite+aiosqlite:///{workdir / 'rewards.db'}",
            goals_database_url=f"sqlite+aiosqlite:///{workdir / 'goals.db'}",
            feedback_database_url=f"sqlite+aiosqlite:///{workdir / 'feedback.db'}",
        )
        for service in ("reviews", "rewards"):
            await asyncio.to_thread(upgrade, service, settings.database_url(service))
        log(f"temporal {temporal_address}, nats {nats_url}, data in {workdir}")
        yield BenchEnv(workdir, settings, stack)


def spawn(env: BenchEnv, name: str, argv: Sequence[str], *, databases: bool = True) -> subprocess.Popen[bytes]:
    output = (env.workdir / f"{name}.log").open("ab")
    return subprocess.Popen(
        list(argv),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env.env(databases=databases),
        cwd=Path.cwd(),
    )


def start_worker(env: BenchEnv, mode: str) -> subprocess.Popen[bytes]:
    """``mode`` "cycle": every workflow (no activity, no database); "bare": the bare workflows only."""
    argv = [sys.executable, "-m", "bench.cycle_launch", f"_{mode}-worker"]
    process = spawn(env, f"worker-{mode}", argv, databases=False)
    ready = env.workdir / f"worker-{mode}.ready"
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the {mode} worker did not start; see {env.workdir / f'worker-{mode}.log'}")
        time.sleep(0.1)
    return process


# --- the organisation and the cycle ----------------------------------------------------------


async def import_directory(settings: Settings, people: int, depth: int) -> float:
    log(f"generating and importing an organisation of {people:,} people ({depth} levels) ...")
    org = generate(people, depth)
    engine = create_engine(settings.database_url("reviews"))
    sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
    started = time.perf_counter()
    records, columns = parse_records(to_csv(org), "csv")
    async with sessionmaker() as session, session.begin():
        report = await import_people(session, records, columns)
    await engine.dispose()
    if report.rejected or not report.applied:
        raise SystemExit(f"import refused: {report.summary}")
    elapsed = time.perf_counter() - started
    log(f"  imported in {elapsed:.1f} s; level sizes {[len(level) for level in org.levels]}")
    return elapsed


def template_body(scale_id: str) -> dict[str, Any]:
    return {
        "name": "Annual review",
        "description": "Once a year.",
        "sections": [
            {"key": "goals", "title": "Goals", "kind": "goals", "weight": 40, "answered_by": "manager"},
            {
                "key": "skills",
                "title": "Competencies",
                "kind": "competencies",
                "weight": 30,
                "answered_by": "both",
                "items": [
                    {
                        "key": "craft",
                        "kind": "competency",
                        "name": "Craft",
                        "scale_id": scale_id,
                        "weight": 2,
                        "behaviours": [{"level": 1, "description": "Needs help."}, {"level": 5, "description": "Bar."}],
                    },
                    {
                        "key": "ownership",
                        "kind": "competency",
                        "name": "Ownership",
                        "scale_id": scale_id,
                        "behaviours": [{"description": "Sees things through."}],
                    },
                ],
            },
            {
                "key": "questions",
                "title": "Reflection",
                "kind": "questions",
                "weight": 30,
                "answered_by": "both",
                "items": [
                    {"key": "impact", "kind": "rated", "text": "How big was the impact?", "scale_id": scale_id},
                    {"key": "notes", "kind": "free_text", "text": "Anything else?", "required": False},
                ],
            },
        ],
    }


async def create_cycle(client: httpx.AsyncClient, hr: dict[str, str]) -> str:
    """A scale, a published template and a draft cycle for everyone active; the cycle's id."""

    async def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await client.post(path, json=body, headers=hr)
        if response.status_code not in (200, 201):
            raise SystemExit(f"POST {path}: {response.status_code} {response.text}")
        found: dict[str, Any] = response.json()
        return found

    points = [{"value": v, "label": f"Level {v}", "description": f"Described {v}"} for v in range(1, 6)]
    scale = await post("/rating-scales", {"name": "Five points", "description": "How well.", "points": points})
    template = await post("/templates", template_body(scale["id"]))
    await post(f"/templates/{template['id']}/publish")
    start = utcnow()
    phases = ["self_assessment", "manager_review", "calibration", "pay_approval", "acknowledgement"]
    deadlines = {phase: (start + timedelta(days=10 * (i + 1))).isoformat() for i, phase in enumerate(phases)}
    cycle = await post(
        "/review-cycles",
        {
            "name": "Benchmark cycle",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "template_id": template["id"],
            "deadlines": deadlines,
        },
    )
    return str(cycle["id"])


def hr_headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings, uuid.uuid4(), (Role.hr,))}"}


async def count_tasks(sessionmaker: async_sessionmaker[AsyncSession], cycle_id: str, step: str = SELF) -> int:
    async with sessionmaker() as session:
        query = select(func.count()).where(ReviewTask.cycle_id == uuid.UUID(cycle_id), ReviewTask.step == step)
        return int((await session.execute(query)).scalar_one())


@dataclass
class Waited:
    count: int
    seconds: float
    first_task: float | None
    complete: bool


async def wait_for_tasks(
    sessionmaker: async_sessionmaker[AsyncSession],
    cycle_id: str,
    expected: int,
    started: float,
    timeout: float,
    stall: float = 120.0,
) -> Waited:
    """Poll the inbox table once a second until ``expected`` self-assessments exist, ``timeout`` passes
    or no task appears for ``stall`` seconds (then the time is that of the last task)."""
    first: float | None = None
    count, last_count, last_time, last_print = 0, 0, started, started
    changed_count, changed_at = 0, started
    while True:
        count = await count_tasks(sessionmaker, cycle_id)
        now = time.perf_counter()
        if count and first is None:
            first = now - started
        if count != changed_count:
            changed_count, changed_at = count, now
        elif now - changed_at > stall:
            log(f"  STALLED: no new task for {stall:.0f} s; {count:,}/{expected:,} tasks after {now - started:.0f} s")
            return Waited(count, changed_at - started, first, False)
        if count >= expected:
            log(f"  {count:,}/{expected:,} self-assessment tasks after {now - started:.1f} s")
            return Waited(count, now - started, first, True)
        if now - started > timeout:
            log(f"  TIMEOUT after {now - started:.0f} s: {count:,}/{expected:,} tasks")
            return Waited(count, now - started, first, False)
        if now - last_print >= 5:
            recent = (count - last_count) / (now - last_time)
            overall = count / (now - started)
            log(
                f"  {now - started:6.0f} s: {count:>7,}/{expected:,} tasks "
                f"({overall:.1f}/s overall, {recent:.1f}/s last {now - last_time:.0f} s)"
            )
            last_count, last_time, last_print = count, now, now
        await asyncio.sleep(1.0)


async def wait_for_reviews(
    settings: Settings, cycle_id: str, expected: int, started: float, timeout: float
) -> float | None:
    """Seconds from the launch request until the cycle has started every participant's review."""
    from workflows.client import connect
    from workflows.models import cycle_workflow_id
    from workflows.review_cycle import ReviewCycleWorkflow

    handle = (await connect(settings)).get_workflow_handle(cycle_workflow_id(cycle_id))
    last_print = time.perf_counter()
    while True:
        now = time.perf_counter()
        try:
            progress = await handle.query(ReviewCycleWorkflow.progress)
        except Exception:  # noqa: BLE001 - a query racing a continue-as-new: ask again
            progress = None
        if progress is not None and progress.fanout_done and progress.participants >= expected:
            log(f"  every review runs ({progress.participants:,}) after {now - started:.1f} s")
            return now - started
        if now - started > timeout:
            return None
        if progress is not None and now - last_print >= 5:
            log(f"  {now - started:6.0f} s: {progress.participants:>7,}/{expected:,} reviews started")
            last_print = now
        await asyncio.sleep(1.0)


# --- history ---------------------------------------------------------------------------------


@dataclass
class History:
    runs: int
    current_events: int
    total_events: int
    per_run: list[int]


async def cycle_history(client: Client, workflow_id: str) -> History:
    """Events of every run of the workflow id (continue-as-new chains runs), the current one last."""
    runs: list[tuple[Any, str]] = []
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        runs.append((execution.start_time, execution.run_id))
    runs.sort()
    per_run = []
    for _, run_id in runs:
        count = 0
        async for _event in client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history_events():
            count += 1
        per_run.append(count)
    current = 0
    async for _event in client.get_workflow_handle(workflow_id).fetch_history_events():
        current += 1
    return History(len(per_run) or 1, current, sum(per_run) or current, per_run)


# --- the bare platform -----------------------------------------------------------------------


async def bare_workflows(address: str, count: int, in_flight: int) -> tuple[float, list[float]]:
    """Start and await ``count`` trivial workflows, ``in_flight`` at a time: (wf/s, latencies)."""
    client = await Client.connect(address)
    prefix = uuid.uuid4().hex[:8]
    await client.execute_workflow(TrivialWorkflow.run, id=f"bare-{prefix}-warm", task_queue=BARE_QUEUE)
    latencies: list[float] = []
    next_index = 0
    done = 0
    started = time.perf_counter()
    last_print = started

    async def one_runner() -> None:
        nonlocal next_index, done, last_print
        while next_index < count:
            index = next_index
            next_index += 1
            began = time.perf_counter()
            await client.execute_workflow(TrivialWorkflow.run, id=f"bare-{prefix}-{index}", task_queue=BARE_QUEUE)
            latencies.append(time.perf_counter() - began)
            done += 1
            now = time.perf_counter()
            if now - last_print >= 5:
                last_print = now
                log(f"  bare: {done:,}/{count:,} workflows ({done / (now - started):.1f} wf/s)")

    await asyncio.gather(*(one_runner() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    return count / elapsed, latencies


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    from services.reviews.app import create as create_reviews
    from services.reviews.cycles.temporal import holder
    from workflows.client import connect
    from workflows.models import CycleProgress, cycle_workflow_id
    from workflows.review_cycle import ReviewCycleWorkflow

    async with environment(args, "meritloop-bench-cycle-") as env:
        settings = env.settings
        await import_directory(settings, args.participants, args.depth)
        log("starting the workflow worker (subprocess); the reviews activities run in the reviews app ...")
        worker = start_worker(env, "cycle")
        env.stack.callback(stop_process, worker)
        holder.forget()
        holder.default_settings = settings
        app = create_reviews(settings)
        quiet()
        engine = create_engine(settings.database_url("reviews"))
        sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        hr = hr_headers(settings)
        async with app.router.lifespan_context(app):
            await app.state.bus.wait_connected(10)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://reviews", timeout=600) as api:
                cycle_id = await create_cycle(api, hr)
                log(f"launching cycle {cycle_id} for {args.participants:,} people ...")
                started = time.perf_counter()
                launched = await api.post(f"/review-cycles/{cycle_id}/launch", headers=hr)
                launch_seconds = time.perf_counter() - started
                if launched.status_code != 200:
                    raise SystemExit(f"launch: {launched.status_code} {launched.text}")
                participants = int(launched.json()["participant_count"])
                log(f"  launch request: {launch_seconds:.2f} s, {participants:,} participants; waiting for tasks ...")
                waited = await wait_for_tasks(
                    sessionmaker, cycle_id, participants, started, args.timeout, args.stall_timeout
                )
                # The reviews start behind the tasks, from the reviews app's activity (in this process).
                reviews_running = await wait_for_reviews(settings, cycle_id, participants, started, args.timeout)
        await engine.dispose()

        client = await connect(settings)
        workflow_id = cycle_workflow_id(cycle_id)
        progress: CycleProgress | None = None
        try:
            progress = await client.get_workflow_handle(workflow_id).query(ReviewCycleWorkflow.progress)
        except Exception as error:  # noqa: BLE001 - reported, the figures still stand
            log(f"  (progress query failed: {type(error).__name__}: {error})")
        log("fetching the cycle workflow's history (every run) ...")
        history = await cycle_history(client, workflow_id)
        stop_process(worker)

        log(f"bare platform: {args.bare_count:,} trivial workflows, {args.bare_in_flight} in flight ...")
        bare_worker = start_worker(env, "bare")
        env.stack.callback(stop_process, bare_worker)
        bare_rate, bare_latencies = await bare_workflows(
            settings.temporal_address, args.bare_count, args.bare_in_flight
        )
        stop_process(bare_worker)

    deadlocks = (env.workdir / "worker-cycle.log").read_text(errors="replace").count("Potential deadlock detected")
    rate = waited.count / waited.seconds if waited.seconds else 0.0
    print()
    partial = "" if waited.complete else " (PARTIAL: timeout or stall)"
    print(f"cycle launch benchmark: {participants:,} participants{partial}")
    print(f"  launch request (snapshot + start workflow)       {launch_seconds:8.2f} s")
    if waited.first_task is not None:
        print(f"  first self-assessment task after                 {waited.first_task:8.2f} s")
    print(f"  self-assessment tasks                            {waited.count:>8,}")
    print(f"  time until all tasks exist                       {waited.seconds:8.1f} s")
    print(f"  tasks created per second                         {rate:8.1f} /s")
    if reviews_running is not None:
        print(f"  time until every review workflow runs            {reviews_running:8.1f} s")
        print(f"  reviews started per second                       {participants / reviews_running:8.1f} /s")
    else:
        print("  reviews: not all running before the timeout")
    print(f"  cycle workflow runs (continue-as-new)            {history.runs:>8}")
    print(f"  history events, current run                      {history.current_events:>8,}")
    print(f"  history events, all runs                         {history.total_events:>8,}  per run {history.per_run}")
    if progress is not None:
        print(
            f"  workflow: phase {progress.phase.value}, started {progress.participants:,}, run {progress.run}, "
            f"max in window {progress.max_starting}, max started in a run {progress.max_started_in_a_run}"
        )
    print(
        f"  bare Temporal: trivial workflow (no activity), {args.bare_in_flight} in flight   {bare_rate:8.1f} wf/s "
        f"(p50 {statistics.median(bare_latencies) * 1000:.0f} ms, p99 {percentile(bare_latencies, 0.99) * 1000:.0f} ms)"
    )
    if deadlocks:
        print(f"  worker log: {deadlocks} 'Potential deadlock detected' (workflow task > 2 s) in {env.workdir}")
    print(f"  ratio tasks/s / bare wf/s                        {rate / bare_rate:8.2f}")


# --- worker subprocesses ---------------------------------------------------------------------


async def run_worker(mode: str) -> None:
    import signal

    from workflows.client import connect
    from workflows.worker import build_worker

    settings = Settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready = settings.data_dir / f"worker-{mode}.ready"
    if mode == "cycle":
        client = await connect(settings)
        worker = build_worker(client, settings.temporal_task_queue)
    else:
        client = await Client.connect(settings.temporal_address)
        worker = Worker(
            client,
            task_queue=BARE_QUEUE,
            workflows=[TrivialWorkflow, UpdatableWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
    async with worker:
        ready.touch()
        await stop.wait()


def main() -> None:
    if len(sys.argv) == 2 and sys.argv[1] in ("_cycle-worker", "_bare-worker"):
        asyncio.run(run_worker(sys.argv[1][1:].removesuffix("-worker")))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=6, help="levels of the generated organisation")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the tasks before reporting")
    parser.add_argument("--stall-timeout", type=float, default=120, help="stop waiting after this long without a task")
    parser.add_argument("--bare-count", type=int, default=2000, help="trivial workflows for the bare figure")
    parser.add_argument("--bare-in-flight", type=int, default=50)
    parser.add_argument("--temporal-address", help="a running Temporal (default: start a dev server)")
    parser.add_argument("--nats-url", help="a running NATS with JetStream (default: start one)")
    parser.add_argument("--database-url", help="an empty reviews database (default: SQLite WAL in a temp folder)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
