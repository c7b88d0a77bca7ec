"""``meritloop up``'s NATS: the configuration it writes works on the real server, and each process
it starts gets its own user (a password file, never the password) and the worker none."""

from __future__ import annotations

import io
import ipaddress
import ssl
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import nats.errors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nats.js.api import StreamConfig
from nats.js.errors import NoStreamResponseError

from meritloop.launcher import Launcher, LaunchError, binary, nats_endpoint
from shared.events.bus import EventBus, tls_context
from shared.settings import Environment, Settings
from tests.support.processes import free_port, stop_process, wait_for_port


def start_server(config: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [binary("nats-server"), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_port(port, process=server)
    return server


def launcher(tmp_path: Path, **changes: object) -> Launcher:
    settings = Settings(
        environment=Environment.test,
        data_dir=tmp_path / "data",
        nats_url=f"nats://127.0.0.1:{free_port()}",
        nats_monitor_port=free_port(),
        **changes,  # type: ignore[arg-type]
    )
    return Launcher(settings, demo=False, out=io.StringIO(), err=io.StringIO())


async def test_the_generated_configuration_locks_each_service_to_its_subjects(tmp_path: Path) -> None:
    up = launcher(tmp_path)
    endpoint = nats_endpoint(up.settings.nats_url)
    config = up._write_nats_config(endpoint, up.data_dir / "nats")
    assert config.stat().st_mode & 0o777 == 0o600
    assert up.nats_passwords is not None
    assert set(up.nats_passwords) == {"goals", "feedback", "reviews", "rewards", "notifications", "provisioner"}
    for path in up.nats_passwords.values():
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text().strip() in config.read_text()

    goals_env = up._service_child("goals").env
    assert goals_env is not None
    assert goals_env["MERITLOOP_NATS_USER"] == "goals"
    assert goals_env["MERITLOOP_NATS_PASSWORD_FILE"] == str(up.nats_passwords["goals"])
    assert not any(up.nats_passwords["goals"].read_text() in value for value in goals_env.values())
    notifications_env = up._notifications_child().env
    assert notifications_env is not None
    assert notifications_env["MERITLOOP_NATS_USER"] == "notifications"
    worker_env = up._worker_child().env
    assert worker_env is not None
    assert not any(key.startswith("MERITLOOP_NATS_USER") or "PASSWORD" in key for key in worker_env)

    server = start_server(config, endpoint.port)
    try:
        password = up.nats_passwords["goals"].read_text().strip()
        nc = await nats.connect(
            up.settings.nats_url, user="goals", password=password, inbox_prefix="_INBOX_goals", allow_reconnect=False
        )
        js = nc.jetstream(timeout=2.0)
        await js.add_stream(StreamConfig(name="MERITLOOP_GOALS", subjects=["meritloop.goals.>"]))
        ack = await js.publish("meritloop.goals.goal.created", b"{}")
        assert ack.seq == 1
        with pytest.raises((nats.errors.TimeoutError, NoStreamResponseError)):
            await js.add_stream(StreamConfig(name="MERITLOOP_REVIEWS", subjects=["meritloop.reviews.>"]))
        # Before any service starts, `up` defines every consumer as the provisioner, whose
        # password no process it starts is given.
        await up._provision_bus()
        assert (await js.consumer_info("MERITLOOP_REVIEWS", "goals-people")).config.filter_subjects
        provisioner_password = up.nats_passwords["provisioner"].read_text().strip()
        for child in (up._service_child("goals"), up._notifications_child(), up._worker_child()):
            assert child.env is not None
            assert not any(provisioner_password in value for value in child.env.values())
            assert child.env.get("MERITLOOP_NATS_USER") != "provisioner"
        await nc.close()
        with pytest.raises((nats.errors.Error, OSError)):
            await nats.connect(up.settings.nats_url, allow_reconnect=False, connect_timeout=2)
    finally:
        stop_process(server)


def test_auth_can_be_switched_off(tmp_path: Path) -> None:
    up = launcher(tmp_path, nats_embedded_auth=False)
    config = up._write_nats_config(nats_endpoint(up.settings.nats_url), up.data_dir / "nats")
    assert "authorization" not in config.read_text()
    assert up.nats_passwords is None
    # The launcher's own environment, no user (plus the draft sources' signing key file).
    env = up._service_child("goals").env
    assert env is not None
    assert not any(key.startswith("MERITLOOP_NATS_USER") or "NATS_PASSWORD" in key for key in env)
    assert up._service_child("rewards").env is None


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meritloop-test-nats")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


async def test_the_embedded_server_serves_tls_and_the_bus_verifies_it(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    up = launcher(tmp_path, nats_server_tls_cert_file=cert, nats_server_tls_key_file=key)
    endpoint = nats_endpoint(up.settings.nats_url)
    config = up._write_nats_config(endpoint, up.data_dir / "nats")
    assert f'cert_file: "{cert}"' in config.read_text()
    assert up.nats_passwords is not None
    server = start_server(config, endpoint.port)
    try:
        password = up.nats_passwords["goals"].read_text().strip()
        trusting = up.settings.model_copy(
            update={"nats_user": "goals", "nats_password": password, "nats_tls_ca_file": cert}
        )
        bus = EventBus.from_settings(trusting, name="tls-test")
        bus.start()
        try:
            await bus.wait_connected(10)
            assert bus.client._server_info.get("tls_required") is True
        finally:
            await bus.close()
        # Without the CA the server's certificate is not trusted: no connection.
        plain = up.settings.model_copy(update={"nats_user": "goals", "nats_password": "x", "nats_tls": True})
        with pytest.raises(ssl.SSLError):
            await nats.connect(
                plain.nats_url,
                tls=tls_context(plain),
                allow_reconnect=False,
                connect_timeout=2,
                max_reconnect_attempts=0,
            )
    finally:
        stop_process(server)


async def test_up_refuses_a_replica_count_its_single_server_cannot_keep(tmp_path: Path) -> None:
    up = launcher(tmp_path, stream_replicas=3)
    with pytest.raises(LaunchError, match="MERITLOOP_STREAM_REPLICAS is 3"):
        await up._ensure_nats(nats_endpoint(up.settings.nats_url), reused=None)
    assert not up.children, "no NATS server was started"
