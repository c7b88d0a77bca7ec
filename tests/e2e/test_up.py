"""``meritloop up`` end to end: the real binaries, processes and ports, on ports of its own.

Every port goes to a free one below the ephemeral range (so neither the machine's own NATS
on 4222 nor a port a server picks at random can collide), and NATS and Temporal are
pointed at free ports too, so ``up`` starts its own.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from meritloop.demo import DEMO_PEOPLE
from shared.auth import Role, mint_token
from shared.settings import DEVELOPMENT_JWT_SECRET, SERVICES, Settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Press Ctrl-C to stop."
START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
PROJECTING_SERVICES = ("goals", "feedback", "rewards")


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Free ports below the ephemeral range, where no server's random port can land."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    candidates = list(range(20000, min(low, 32768) - 1))
    random.shuffle(candidates)
    ports = [port for port in candidates[: count * 20] if _port_is_free(port)][:count]
    assert len(ports) == count, "not enough free ports"
    return ports


@dataclass
class System:
    """Environment of one ``meritloop up`` installation: its ports and its data folder."""

    workdir: Path
    data_dir: Path
    ports: dict[str, int]
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, workdir: Path) -> System:
        data_dir = workdir / "data"
        names = [f"{name}_port" for name in SERVICES] + ["nats", "nats_monitor", "temporal", "temporal_ui", "web"]
        names += ["notifications_port", "smtp"]
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        env = {key: value for key, value in os.environ.items() if not key.startswith("MERITLOOP_")}
        # Run from a folder of its own (no .env there), importing Meritloop from this checkout.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
        env.update({f"MERITLOOP_{name.upper()}_PORT": str(ports[f"{name}_port"]) for name in SERVICES})
        env.update(
            MERITLOOP_DATA_DIR=str(data_dir),
            MERITLOOP_HOST="127.0.0.1",
            MERITLOOP_NATS_URL=f"nats://127.0.0.1:{ports['nats']}",
            MERITLOOP_NATS_MONITOR_PORT=str(ports["nats_monitor"]),
            MERITLOOP_TEMPORAL_ADDRESS=f"127.0.0.1:{ports['temporal']}",
            MERITLOOP_TEMPORAL_UI_PORT=str(ports["temporal_ui"]),
            MERITLOOP_NOTIFICATIONS_PORT=str(ports["notifications_port"]),
            MERITLOOP_SMTP_PORT=str(ports["smtp"]),
            MERITLOOP_WEB_PORT=str(ports["web"]),
            MERITLOOP_OUTBOX_POLL_INTERVAL="0.05",
        )
        return cls(workdir=workdir, data_dir=data_dir, ports=ports, env=env)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{service}_port']}"

    def admin_headers(self) -> dict[str, str]:
        return self.headers(uuid.uuid4(), Role.admin)

    def headers(self, person_id: uuid.UUID, *roles: Role) -> dict[str, str]:
        # The defaults, as the child sees them: its environment has no MERITLOOP_JWT_* variables.
        settings = Settings(jwt_secret=DEVELOPMENT_JWT_SECRET, jwt_issuer="meritloop-dev", jwt_audience="meritloop")
        token = mint_token(settings, person_id, list(roles or (Role.employee,)))
        return {"Authorization": f"Bearer {token}"}

    def start(self, *args: str) -> Up:
        return Up(self, list(args))


class Up:
    """``python -m meritloop.cli up`` as a child process, its output collected line by line."""

    def __init__(self, system: System, args: list[str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "meritloop.cli", "up", *args],
            cwd=system.workdir,
            env=system.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> float:
        """Seconds until a line containing ``text`` appeared."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line with {text!r} after {timeout}s; output so far:\n{self.output}")
            if line is None:
                pytest.fail(f"up exited ({self.process.wait()}) before {text!r}; output:\n{self.output}")
            if text in line:
                return time.monotonic() - self.started

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"up did not exit within {timeout}s; output:\n{self.output}")
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (children in other sessions included), with its command line."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # The command name in field 2 may hold spaces and parentheses: split after the last ')'.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        commands[int(entry.name)] = command.strip()
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = commands[child]
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in command and alive(int(entry.name)):
                found.append(f"{entry.name}: {command}")
    return found


def assert_nothing_left(system: System, children: dict[int, str]) -> None:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        left = {pid: command for pid, command in children.items() if alive(pid)}
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"processes left behind: {left}"
    assert not processes_mentioning(str(system.data_dir))
    taken = [name for name, port in system.ports.items() if not _port_is_free(port)]
    assert not taken, f"ports still bound: {taken}"


def get_people(client: httpx.Client, url: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"{url}/people", params={"limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_until_projected(client: httpx.Client, system: System, service: str, count: int) -> None:
    headers = system.admin_headers()
    deadline = time.monotonic() + 30.0
    total: object = None
    while time.monotonic() < deadline:
        total = get_people(client, system.url(service), headers)["total"]
        if total == count:
            return
        time.sleep(0.2)
    pytest.fail(f"the {service} service projects {total} people, not {count}, after 30s")


@pytest.fixture
def system(tmp_path: Path) -> System:
    return System.on_free_ports(tmp_path)


def test_up_starts_everything_loads_the_demo_and_stops_cleanly(system: System) -> None:
    up = system.start("--timeout", "150")
    try:
        ready_after = up.wait_for(READY_LINE)
        children = descendants(up.process.pid)
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            for service in SERVICES:
                assert client.get(f"{system.url(service)}/readyz").status_code == 200, service
                assert client.get(f"{system.url(service)}/openapi.json").status_code == 200, service
            ui = client.get(f"http://127.0.0.1:{system.ports['temporal_ui']}/")
            assert ui.status_code == 200
            monitor = client.get(f"http://127.0.0.1:{system.ports['nats_monitor']}/healthz")
            assert monitor.status_code == 200
            # The web app's development sign-in lists the demo organisation.
            signin = client.get(f"http://127.0.0.1:{system.ports['web']}/signin")
            assert signin.status_code == 200
            assert all(person.display_name in signin.text for person in DEMO_PEOPLE)

            directory = get_people(client, system.url("reviews"), system.admin_headers())
            emails = {str(item["email"]) for item in directory["items"]}
            assert emails == {person.email for person in DEMO_PEOPLE}
            for projecting in PROJECTING_SERVICES:
                wait_until_projected(client, system, projecting, len(DEMO_PEOPLE))
        # The README's next step: a demo review cycle, launched through the API, tasks listed.
        demo = subprocess.run(
            [sys.executable, "-m", "meritloop.cli", "demo-cycle"],
            cwd=system.workdir,
            env=system.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        engineering_and_sales = sum(1 for p in DEMO_PEOPLE if p.department in ("Engineering", "Sales"))
        assert f"launched: {engineering_and_sales} participants, {engineering_and_sales} self-assessment" in demo.stdout
        assert demo.stdout.count("meritloop token") == engineering_and_sales
        # Goals signs a participant's draft sources with its own key, and reviews, which holds only the
        # public keys `up` gave it, accepts them for the participant's own draft.
        participant = uuid.UUID(re.findall(r"meritloop token ([0-9a-f-]{36})", demo.stdout)[0])
        with httpx.Client(timeout=30.0, trust_env=False, headers=system.headers(participant)) as client:
            bundle = client.get(f"{system.url('goals')}/goals/draft-sources", params={"person_id": str(participant)})
            assert bundle.status_code == 200, bundle.text
            tasks = client.get(f"{system.url('reviews')}/tasks").json()["items"]
            (task,) = [item for item in tasks if item["step"] == "self_assessment"]
            body = {"attested_sources": [bundle.json()]}
            draft = client.post(f"{system.url('reviews')}/tasks/{task['id']}/draft/generate", json=body)
            assert draft.status_code == 200, draft.text
            forged = {**bundle.json(), "attestation": {**bundle.json()["attestation"], "issuer": "feedback"}}
            refused = client.post(
                f"{system.url('reviews')}/tasks/{task['id']}/draft/generate", json={"attested_sources": [forged]}
            )
            assert refused.status_code == 422, refused.text
        # A newcomer reads the task mails on the mail sink's page (digests sent now, not at 08:00).
        participants = {p.email for p in DEMO_PEOPLE if p.department in ("Engineering", "Sales")}
        mails_page = f"http://127.0.0.1:{system.ports['notifications_port']}/dev/mails"
        deadline = time.monotonic() + 30.0
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            while True:
                assert client.post(f"{mails_page}/send-digests").status_code == 303
                listed = client.get(mails_page).text
                if all(email in listed for email in participants) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert [email for email in sorted(participants) if email not in listed] == []
        assert "update(s) for you" in listed
    except BaseException:
        up.kill()
        raise
    output = up.output
    print(f"\ncold start: ready after {ready_after:.1f}s\n{output}")
    assert "Demo organisation loaded: 12 people" in output
    assert "Demo review template 'Annual review' published" in output
    assert "Demo company values and competencies loaded: 5 (feedback)." in output
    hint = re.search(r"meritloop token ([0-9a-f-]{36}) -r hr", output)
    assert hint is not None, output
    for needle in ("/docs", "Temporal", "NATS", str(system.data_dir / "logs"), "/dev/mails"):
        assert needle in output
    table = output[output.index("component") :].splitlines()
    assert table[2].split()[:3] == ["web", "app", f"http://127.0.0.1:{system.ports['web']}"], "web app first"
    commands = " | ".join(children.values())
    assert "nats-server" in commands
    assert "temporal server start-dev" in commands
    assert "meritloop.cli worker" in commands
    assert "web.app:create" in commands
    for service in SERVICES:
        assert f"services.{service}.app:create" in commands
    assert "notifications.app:create" in commands
    assert "aiosmtpd" in commands

    up.process.send_signal(signal.SIGINT)
    assert up.wait_exit() == 0, up.output
    assert "did not stop" not in up.output, "every process stops on SIGTERM, none is killed"
    assert_nothing_left(system, children)
    for name in ("nats", "temporal", "worker", "web", *SERVICES):
        assert (system.data_dir / "logs" / f"{name}.log").exists()

    # Warm start on the same data: migrations are no-ops, the demo is not loaded twice, and
    # a process that dies on its own takes the whole system down with a pointer to its log.
    up = system.start("--timeout", "150")
    try:
        warm_after = up.wait_for(READY_LINE)
        children = descendants(up.process.pid)
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            directory = get_people(client, system.url("reviews"), system.admin_headers())
            assert directory["total"] == len(DEMO_PEOPLE)
    except BaseException:
        up.kill()
        raise
    print(f"warm start: ready after {warm_after:.1f}s")
    assert "demo organisation not loaded" in up.output
    reviews = next(pid for pid, command in children.items() if "services.reviews.app:create" in command)
    os.kill(reviews, signal.SIGKILL)
    assert up.wait_exit() == 1, up.output
    assert "reviews service" in up.output
    assert "killed by SIGKILL" in up.output
    assert str(system.data_dir / "logs" / "reviews.log") in up.output
    assert_nothing_left(system, children)


def test_up_refuses_a_port_that_is_in_use(system: System) -> None:
    taken = system.ports["reviews_port"]
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", taken))
        blocker.listen()
        result = subprocess.run(
            [sys.executable, "-m", "meritloop.cli", "up", "--no-demo", "--timeout", "30"],
            cwd=system.workdir,
            env=system.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert f"port {taken} (reviews service) is already in use" in result.stderr, result.stderr
    assert "MERITLOOP_REVIEWS_PORT" in result.stderr
    # It refused before starting anything.
    assert not (system.data_dir / "logs").exists()
    assert not processes_mentioning(str(system.data_dir))
