"""Streams kept on several NATS servers (``MERITLOOP_STREAM_REPLICAS``), on a real three-node cluster.

Each node runs the configuration ``meritloop up`` writes (one user per component) plus a
cluster block. The provisioner raises existing streams to the replica count, a service that
starts with the same setting leaves it there, and a service reads every event published before
and after the server leading its stream is killed.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig
from sqlalchemy import select

from meritloop.bus import PROVISIONER, bus_plan, provision_bus
from meritloop.launcher import binary
from services.goals.models import Person
from shared.events import stream_name
from shared.events.bus import BusCredentials, EventBus, dead_letter_stream, service_stream
from shared.events.trust import BUS_USERS, DEAD_LETTER_STREAM, server_config
from shared.migrations import upgrade_async
from shared.settings import Settings
from tests.bus.conftest import ADMIN_PASSWORD
from tests.conftest import _service_factory
from tests.support.bus import publish_person
from tests.support.processes import free_port, stop_process, wait_for_port
from tests.support.waiting import wait_until

REPLICAS = 3


@dataclass
class Node:
    name: str
    port: int = field(default_factory=free_port)
    route_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    folder: Path
    nodes: list[Node] = field(default_factory=lambda: [Node(f"n{i}") for i in range(1, REPLICAS + 1)])
    passwords: dict[str, str] = field(default_factory=lambda: {c.name: f"{c.name}-cluster-pw" for c in BUS_USERS})

    def start(self) -> None:
        routes = ", ".join(f'"nats://127.0.0.1:{node.route_port}"' for node in self.nodes)
        for node in self.nodes:
            folder = self.folder / node.name
            folder.mkdir(parents=True)
            config = server_config(
                host="127.0.0.1",
                port=node.port,
                store_dir=folder / "store",
                passwords=self.passwords,
                admin_password=ADMIN_PASSWORD,
            )
            config += f'server_name: "{node.name}"\n'
            config += f'cluster {{ name: "meritloop", host: "127.0.0.1", port: {node.route_port}, '
            config += f"routes: [{routes}] }}\n"
            (folder / "nats.conf").write_text(config)
            log = (folder / "nats.log").open("ab")
            node.process = subprocess.Popen(
                [binary("nats-server"), "-c", str(folder / "nats.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for node in self.nodes:
            wait_for_port(node.port, process=node.process)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                stop_process(node.process)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    async def connect(self, user: str, node: Node | None = None) -> Client:
        if user == "admin":
            options: dict[str, Any] = {"user": "admin", "password": ADMIN_PASSWORD}
        else:
            options = BusCredentials(user, self.passwords[user]).connect_options()
        return await nats.connect((node or self.nodes[0]).url, connect_timeout=2, reconnect_time_wait=0.2, **options)

    def settings(self, **changes: object) -> Settings:
        return Settings(nats_url=self.nodes[0].url, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    cluster = Cluster(tmp_path / "nats")
    cluster.start()
    try:
        admin = await cluster.connect("admin")

        async def meta_leader_elected() -> bool:
            try:
                await admin.jetstream(timeout=1.0).account_info()
            except nats.errors.Error:
                return False
            return True

        await wait_until(meta_leader_elected, timeout=30.0, message="a JetStream meta leader")

        async def every_server_placeable() -> bool:
            # A leader comes before every peer reports in: an R3 stream then finds "no suitable peers".
            js = admin.jetstream(timeout=2.0)
            try:
                await js.add_stream(StreamConfig(name="PLACEMENT_PROBE", subjects=["probe.>"], num_replicas=REPLICAS))
            except nats.errors.Error:
                return False
            await js.delete_stream("PLACEMENT_PROBE")
            return True

        await wait_until(every_server_placeable, timeout=30.0, interval=0.2, message="all servers take replicas")
        await admin.close()
        yield cluster
    finally:
        cluster.stop()


async def replicas_of(client: Client, stream: str) -> tuple[int, int]:
    """The stream's configured replica count, and the servers that hold it (leader and peers)."""
    info = await client.jetstream().stream_info(stream)
    assert info.cluster is not None
    return info.config.num_replicas or 1, 1 + len(info.cluster.replicas or [])


async def held_by_all(client: Client, stream: str) -> bool:
    return await replicas_of(client, stream) == (REPLICAS, REPLICAS)


async def test_the_provisioner_raises_every_stream_to_the_replica_count(cluster: Cluster) -> None:
    password = cluster.passwords[PROVISIONER]
    await provision_bus(cluster.settings(), user=PROVISIONER, password=password)
    admin = await cluster.connect("admin")
    try:
        streams = [config.name or "" for config in bus_plan(cluster.settings()).streams]
        assert DEAD_LETTER_STREAM in streams
        for stream in streams:
            assert await replicas_of(admin, stream) == (1, 1), f"{stream} starts on one server (the default)"

        await provision_bus(cluster.settings(stream_replicas=REPLICAS), user=PROVISIONER, password=password)

        for stream in streams:
            # The dead-letter stream too, which no component may change. New peers join within moments.
            await wait_until(partial(held_by_all, admin, stream), timeout=15.0, message=f"{stream} on every server")
        consumer = await admin.jetstream().consumer_info(stream_name("reviews"), "goals-people")
        assert consumer.config.filter_subjects or consumer.config.filter_subject, "consumers kept through the change"
    finally:
        await admin.close()


async def test_a_component_may_not_change_the_dead_letter_streams_replicas(cluster: Cluster) -> None:
    await provision_bus(cluster.settings(), user=PROVISIONER, password=cluster.passwords[PROVISIONER])
    goals = await cluster.connect("goals")
    admin = await cluster.connect("admin")
    try:
        raised = bus_plan(cluster.settings(stream_replicas=REPLICAS)).streams[-1]
        assert raised.name == DEAD_LETTER_STREAM
        with pytest.raises(nats.errors.Error):
            await goals.jetstream(timeout=2.0).update_stream(raised)
        assert await replicas_of(admin, DEAD_LETTER_STREAM) == (1, 1)
    finally:
        await goals.close()
        await admin.close()


async def test_a_component_set_to_fewer_replicas_does_not_lower_its_stream(cluster: Cluster) -> None:
    settings = cluster.settings(stream_replicas=REPLICAS)
    await provision_bus(settings, user=PROVISIONER, password=cluster.passwords[PROVISIONER])
    admin = await cluster.connect("admin")
    bus = EventBus(cluster.nodes[0].url, name="goals", credentials=BusCredentials("goals", cluster.passwords["goals"]))
    # What a goals pod whose ConfigMap still says 1 declares at its start.
    bus.declare_stream(service_stream("goals", 1))
    bus.declare_stream(dead_letter_stream(1))
    try:
        await wait_until(partial(held_by_all, admin, stream_name("goals")), timeout=15.0, message="goals on all")
        bus.start()
        await bus.wait_connected(15)
        assert await replicas_of(admin, stream_name("goals")) == (REPLICAS, REPLICAS)
        assert await replicas_of(admin, DEAD_LETTER_STREAM) == (REPLICAS, REPLICAS)
    finally:
        await bus.close()
        await admin.close()


@pytest.fixture
async def goals_on_the_cluster(cluster: Cluster, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The goals service (it reads the reviews stream) behind its own user, with three replicas set."""
    await provision_bus(
        cluster.settings(stream_replicas=REPLICAS), user=PROVISIONER, password=cluster.passwords[PROVISIONER]
    )
    own = settings.model_copy(
        update={
            "nats_url": cluster.nodes[0].url,
            "nats_user": "goals",
            "nats_password": cluster.passwords["goals"],
            "stream_replicas": REPLICAS,
        }
    )
    await upgrade_async("goals", own.database_url("goals"))
    app = _service_factory("goals")(own)
    async with app.router.lifespan_context(app):
        await app.state.bus.wait_connected(15)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://goals") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def test_no_event_is_lost_when_the_server_leading_the_stream_dies(
    cluster: Cluster, goals_on_the_cluster: httpx.AsyncClient
) -> None:
    admin = await cluster.connect("admin")
    try:
        # The service re-applied its own stream at start with the same setting: still three.
        await wait_until(lambda: held_by_all(admin, stream_name("goals")), timeout=15.0, message="goals on all")
        await wait_until(lambda: held_by_all(admin, stream_name("reviews")), timeout=15.0, message="reviews on all")
        leader = (await admin.jetstream().stream_info(stream_name("reviews"))).cluster
        assert leader is not None
        assert leader.leader is not None
        doomed = cluster.node(leader.leader)
    finally:
        await admin.close()

    survivor = next(node for node in cluster.nodes if node is not doomed)
    reviews = await cluster.connect("reviews", survivor)
    people = [uuid.uuid4() for _ in range(40)]
    try:
        js = reviews.jetstream(timeout=5.0)
        for person in people[:20]:
            await publish_person(js, person, 1, f"Before {person.hex[:6]}")
        assert doomed.process is not None
        doomed.process.kill()
        doomed.process.wait()

        async def published_after_the_loss(person: uuid.UUID) -> bool:
            try:
                await publish_person(js, person, 1, f"After {person.hex[:6]}")
            except nats.errors.Error:
                return False  # until the remaining servers have elected a new stream leader
            return True

        for person in people[20:]:
            await wait_until(partial(published_after_the_loss, person), timeout=30.0, message="a new leader")
    finally:
        await reviews.close()

    app = goals_on_the_cluster.app  # type: ignore[attr-defined]

    async def every_person_arrived() -> bool:
        async with app.state.sessionmaker() as session:
            found = set((await session.scalars(select(Person.id))).all())
        return set(people) <= found

    await wait_until(every_person_arrived, timeout=60.0, message="all 40 people in the goals service")
