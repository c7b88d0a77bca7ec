"""deploy/: the Kubernetes manifests and the Dockerfile, checked by parsing them.

No cluster and no Docker engine are involved: these tests catch broken YAML, files missing
from a kustomization, unhardened pods, wrong probes and setting names that
shared/settings.py does not know (a misspelt MERITLOOP_* variable is silently ignored).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import temporalio
import yaml
from prometheus_client import REGISTRY
from pydantic import ValidationError

from notifications.settings import NotificationSettings
from shared.events.envelope import stream_name
from shared.events.trust import BUS_USERS
from shared.settings import SERVICES, Environment, Settings
from web.settings import WebSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCS = ROOT / "docs" / "deployment.md"
KUSTOMIZATIONS = (K8S / "kustomization.yaml", K8S / "migrations" / "kustomization.yaml")
IMAGE = "ghcr.io/meritloop/meritloop"
IMAGE_TAG = "0.1.0"
USER_ID = 10001
CONFIGMAP, SECRET = "meritloop-config", "meritloop-secrets"
# The feedback key-encryption key: a Secret of its own, a file (not a setting) in the secrets folder.
KEK_SECRET, KEK_FILE = "meritloop-feedback-kek", "feedback-kek"
SIGNING_SECRET = "meritloop-source-signing-keys"
PART_OF = "app.kubernetes.io/part-of"
NAME = "app.kubernetes.io/name"

SETTING_NAMES = (
    frozenset(f"MERITLOOP_{field.upper()}" for field in Settings.model_fields)
    | frozenset(f"MERITLOOP_WEB_{field.upper()}" for field in WebSettings.model_fields)
    # The notifications component's settings extend the shared ones (same prefix).
    | frozenset(f"MERITLOOP_{field.upper()}" for field in NotificationSettings.model_fields)
)
# JetStream stream names look like settings: the NATS values name them in the permissions.
STREAM_NAMES = frozenset({*(stream_name(user.name) for user in BUS_USERS), "MERITLOOP_DEADLETTER"})
SECRETS_DIR = "/var/run/secrets/meritloop"
SETTING_PATTERN = re.compile(r"\bMERITLOOP_[A-Z0-9_]*[A-Z0-9]")

Manifest = dict[str, Any]


def load(path: Path) -> list[Manifest]:
    with path.open(encoding="utf-8") as stream:
        documents = [document for document in yaml.safe_load_all(stream) if document is not None]
    for document in documents:
        assert isinstance(document, dict), f"{path}: a document is not a mapping"
    return documents


def kustomize_resources(kustomization: Path) -> list[Path]:
    (document,) = load(kustomization)
    return [kustomization.parent / name for name in document.get("resources", [])]


def applied() -> list[Manifest]:
    """Every object of the base and of the migrations kustomization."""
    return [doc for k in KUSTOMIZATIONS for path in kustomize_resources(k) for doc in load(path)]


def objects(kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in applied() if doc["kind"] == kind}


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def only_container(workload: Manifest) -> Manifest:
    (container,) = pod_spec(workload)["containers"]
    assert isinstance(container, dict)
    return container


def workloads() -> Iterator[Manifest]:
    yield from objects("Deployment").values()
    yield from objects("Job").values()


def env_names(container: Manifest) -> dict[str, Manifest]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def deploy_texts() -> Iterator[tuple[Path, str]]:
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file():
            yield path, path.read_text(encoding="utf-8")
    yield DOCS, DOCS.read_text(encoding="utf-8")


def test_every_yaml_file_parses() -> None:
    paths = sorted(DEPLOY.rglob("*.yaml"))
    assert paths
    for path in paths:
        assert load(path), f"{path} holds no YAML document"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kustomization_lists_existing_files_and_pins_the_image(kustomization: Path) -> None:
    (document,) = load(kustomization)
    assert document["kind"] == "Kustomization"
    assert document["namespace"] == "meritloop"
    for path in kustomize_resources(kustomization):
        assert path.is_file(), f"{kustomization} lists {path.name}, which does not exist"
        assert not path.name.endswith(".example.yaml"), f"{path.name} is an example, not a resource"
    assert {"name": IMAGE, "newTag": IMAGE_TAG} in document["images"]


def test_every_manifest_is_a_resource_or_an_example() -> None:
    listed = {path.resolve() for k in KUSTOMIZATIONS for path in kustomize_resources(k)}
    listed |= {k.resolve() for k in KUSTOMIZATIONS}
    listed |= {path.resolve() for path in [COMPONENT, *component_resources()]}
    for path in sorted(K8S.rglob("*.yaml")):
        if not path.name.endswith(".example.yaml"):
            assert path.resolve() in listed, f"{path} is in no kustomization"


def test_every_service_has_its_objects() -> None:
    deployments, services, budgets, jobs = (
        objects(kind) for kind in ("Deployment", "Service", "PodDisruptionBudget", "Job")
    )
    for name in SERVICES:
        assert name in deployments, name
        assert name in services, name
        assert name in budgets, name
        assert f"migrate-{name}" in jobs, name
        assert (ROOT / "services" / name / "app.py").is_file(), f"services.{name}.app is missing"
    assert "worker" in deployments
    assert "worker" not in services
    assert objects("Namespace").keys() == {"meritloop"}
    assert CONFIGMAP in objects("ConfigMap")
    assert not objects("Secret"), "secrets are created by the platform team, not applied from here"


@pytest.mark.parametrize("name", SERVICES)
def test_service_deployment_runs_uvicorn_with_probes(name: str) -> None:
    deployment = objects("Deployment")[name]
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the count"
    container = only_container(deployment)
    assert container["command"] == ["uvicorn"]
    args = container["args"]
    assert args[:2] == ["--factory", f"services.{name}.app:create"]
    assert args[args.index("--port") + 1] == "8000"
    assert args[args.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - inside the pod
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert readiness["httpGet"] == {"path": "/readyz", "port": "http"}
    assert liveness["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "startupProbe" in container


@pytest.mark.parametrize("name", SERVICES)
def test_service_and_budget_select_the_deployment_pods(name: str) -> None:
    pod_labels = objects("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
    service = objects("Service")[name]["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert service["selector"].items() <= pod_labels.items()
    budget = objects("PodDisruptionBudget")[name]["spec"]
    assert budget["minAvailable"] == 1
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()


def test_pods_are_hardened_and_sized() -> None:
    for workload in workloads():
        where = f"{workload['kind']} {workload['metadata']['name']}"
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] == USER_ID, where
        assert spec["automountServiceAccountToken"] is False, where
        container = only_container(workload)
        assert container["image"] == f"{IMAGE}:{IMAGE_TAG}", where
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True, where
        assert security["readOnlyRootFilesystem"] is True, where
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["capabilities"]["drop"] == ["ALL"], where
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        assert mounts.keys() == {"/tmp", SECRETS_DIR}, where
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]], where
        assert mounts[SECRETS_DIR]["readOnly"] is True, where
        assert "projected" in volumes[mounts[SECRETS_DIR]["name"]], where
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][bound].keys(), where


def test_labels_are_consistent() -> None:
    for document in applied():
        labels = document["metadata"]["labels"]
        assert labels[PART_OF] == "meritloop", document["metadata"]["name"]
        assert labels[NAME].startswith("meritloop"), document["metadata"]["name"]
    for workload in workloads():
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert pod_labels == workload["metadata"]["labels"]
        if workload["kind"] == "Deployment":
            assert workload["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def secret_sources(workload: Manifest) -> list[Manifest]:
    """The Secret sources of the pod's projected ``secrets`` volume (its secrets, as files)."""
    volumes = {volume["name"]: volume for volume in pod_spec(workload)["volumes"]}
    return [source["secret"] for source in volumes["secrets"]["projected"]["sources"]]


def secret_files(workload: Manifest, *, optional: bool) -> dict[str, tuple[str, str]]:
    """File name in the secrets folder -> (Secret, key), of the required or the optional sources."""
    return {
        item["path"]: (source["name"], item["key"])
        for source in secret_sources(workload)
        if source.get("optional", False) is optional
        for item in source["items"]
    }


def test_each_pod_receives_only_the_secrets_it_needs_as_files() -> None:
    for workload in workloads():
        container = only_container(workload)
        assert container["envFrom"] == [{"configMapRef": {"name": CONFIGMAP}}]
        assert not any("valueFrom" in entry for entry in container.get("env", [])), "secrets come as files"
        name = workload["metadata"]["name"]
        service = workload["metadata"]["labels"][NAME].removeprefix("meritloop-")
        url = f"MERITLOOP_{service.upper()}_DATABASE_URL"
        if name == "worker":
            # It runs workflows only: the activities run in the services that own the data.
            expected = {}
        elif name == "web":
            # It reaches the data through the services' APIs: its own secrets, no database, no bus.
            web_keys = ("MERITLOOP_WEB_SESSION_SECRET", "MERITLOOP_WEB_OIDC_CLIENT_SECRET")
            expected = {key: (SECRET, key) for key in web_keys}
        elif name == "provision-bus":
            # It defines streams and consumers as the provisioner: NATS only, no database.
            expected = {"MERITLOOP_NATS_PASSWORD": ("meritloop-nats-users", "provisioner")}
            assert env_names(container)["MERITLOOP_NATS_USER"]["value"] == "provisioner"
        elif workload["kind"] == "Job":
            expected = {url: (SECRET, url)}
            if service == "feedback":
                expected[KEK_FILE] = (KEK_SECRET, KEK_FILE)  # migrations 0005 and 0010 wrap with it
        else:
            expected = {url: (SECRET, url), "MERITLOOP_NATS_PASSWORD": ("meritloop-nats-users", service)}
            assert env_names(container)["MERITLOOP_NATS_USER"]["value"] == service
            if service in ("goals", "feedback"):
                # Each signs attested draft sources with a secret of its own...
                expected["MERITLOOP_SOURCE_SIGNING_KEY"] = (SIGNING_SECRET, service)
            if service == "reviews":
                # ...and reviews verifies them with their public keys only.
                expected["MERITLOOP_SOURCE_VERIFY_KEYS"] = (SECRET, "MERITLOOP_SOURCE_VERIFY_KEYS")
            if service == "feedback":
                expected[KEK_FILE] = (KEK_SECRET, KEK_FILE)
        assert secret_files(workload, optional=False) == expected, name
        if KEK_FILE in expected:
            kek = env_names(container)["MERITLOOP_FEEDBACK_KEK_FILE"]["value"]
            assert kek == f"{SECRETS_DIR}/{KEK_FILE}", name
        for file_name in secret_files(workload, optional=True):
            assert file_name in SETTING_NAMES, file_name
        assert config_data()["MERITLOOP_SECRETS_DIR"] == SECRETS_DIR


def test_services_with_activities_get_temporal_and_their_queue() -> None:
    config = objects("ConfigMap")[CONFIGMAP]["data"]
    assert config["MERITLOOP_TEMPORAL_FEEDBACK_TASK_QUEUE"] == "feedback"
    assert config["MERITLOOP_TEMPORAL_REVIEWS_TASK_QUEUE"] == "reviews"
    assert config["MERITLOOP_TEMPORAL_REWARDS_TASK_QUEUE"] == "rewards"
    assert config["MERITLOOP_TEMPORAL_ADDRESS"]
    for name in ("feedback", "reviews", "rewards"):
        env = env_names(only_container(objects("Deployment")[name]))
        assert "MERITLOOP_TEMPORAL_ACTIVITY_WORKER" not in env, "the activity worker runs in the service"


def test_every_pod_can_read_the_token_settings() -> None:
    # Settings are validated in every process (migrations and worker too), and
    # production refuses to start without a real JWT secret or a JWKS URL.
    for workload in workloads():
        optional = secret_files(workload, optional=True)
        for variable in ("MERITLOOP_JWT_JWKS_URL", "MERITLOOP_JWT_SECRET"):
            assert optional[variable] == (SECRET, variable), workload["metadata"]["name"]


@pytest.mark.parametrize("name", SERVICES)
def test_migration_job_migrates_its_service(name: str) -> None:
    job = objects("Job")[f"migrate-{name}"]
    assert "command" not in only_container(job), "the image entrypoint is `meritloop`"
    assert only_container(job)["args"] == ["migrate", "--service", name]
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_the_bus_is_provisioned_by_a_job_before_the_services_roll_out() -> None:
    job = objects("Job")["provision-bus"]
    assert only_container(job)["args"] == ["bus", "provision"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    # No long-running pod is the provisioner: only this Job holds its password.
    for workload in workloads():
        if workload["metadata"]["name"] != "provision-bus":
            assert ("meritloop-nats-users", "provisioner") not in secret_files(workload, optional=False).values()
    assert "bus-provisioning" in (K8S / "migrations" / "jobs.yaml").read_text().split("kubectl wait")[1]


def test_worker_runs_meritloop_worker() -> None:
    worker = objects("Deployment")["worker"]
    assert worker["spec"]["replicas"] == 2
    container = only_container(worker)
    assert env_names(container)["MERITLOOP_WORKER_HEALTH_PORT"]["value"] == "8080"
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert "command" not in only_container(worker)
    assert only_container(worker)["args"] == ["worker"]


def test_every_meritloop_variable_is_a_setting() -> None:
    for path, text in deploy_texts():
        unknown = set(SETTING_PATTERN.findall(text)) - SETTING_NAMES - STREAM_NAMES
        assert not unknown, f"{path.relative_to(ROOT)} names unknown settings {sorted(unknown)}"
    for workload in workloads():
        assert env_names(only_container(workload)).keys() <= SETTING_NAMES


def config_data() -> dict[str, str]:
    data: dict[str, str] = objects("ConfigMap")[CONFIGMAP]["data"]
    return data


def secret_example(name: str = SECRET) -> dict[str, str]:
    secrets = {document["metadata"]["name"]: document for document in load(K8S / "secret.example.yaml")}
    assert secrets.keys() == {SECRET, "meritloop-nats-users", KEK_SECRET, SIGNING_SECRET}
    data: dict[str, str] = secrets[name]["stringData"]
    return data


def test_config_and_secret_keys_are_settings_and_never_empty() -> None:
    # An empty value is not "unset": an empty MERITLOOP_JWT_JWKS_URL switches the JWKS
    # check off, an empty database URL falls back to SQLite.
    for source, data in (("ConfigMap", config_data()), ("Secret example", secret_example())):
        assert data.keys() <= SETTING_NAMES, source
        assert all(isinstance(value, str) and value.strip() for value in data.values()), source
    data = secret_example()
    assert {f"MERITLOOP_{name.upper()}_DATABASE_URL" for name in SERVICES} <= data.keys()
    for name in SERVICES:
        assert data[f"MERITLOOP_{name.upper()}_DATABASE_URL"].startswith("postgresql+asyncpg://")


def test_config_targets_production_and_the_helm_chart_services() -> None:
    data = config_data()
    assert data["MERITLOOP_ENVIRONMENT"] == "production"
    assert data["MERITLOOP_NATS_URL"] == "nats://nats.nats.svc:4222"
    assert data["MERITLOOP_TEMPORAL_ADDRESS"] == "temporal-frontend.temporal.svc:7233"
    assert data["MERITLOOP_DATA_DIR"].startswith("/tmp/"), "only /tmp is writable in the pods"


def test_config_and_secret_example_make_valid_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env file
    for variable in SETTING_NAMES:
        monkeypatch.delenv(variable, raising=False)
    # What the pod sees: the ConfigMap as variables, the Secret's keys as files in the secrets folder.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for variable, value in config_data().items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("MERITLOOP_SECRETS_DIR", str(secrets))
    for variable, value in secret_example().items():
        (secrets / variable).write_text(value)
    (secrets / "MERITLOOP_NATS_PASSWORD").write_text(secret_example("meritloop-nats-users")["goals"])
    monkeypatch.setenv("MERITLOOP_NATS_USER", "goals")
    settings = Settings()
    assert settings.nats_user == "goals"
    assert settings.nats_password == secret_example("meritloop-nats-users")["goals"]
    assert settings.database_url("goals") == secret_example()["MERITLOOP_GOALS_DATABASE_URL"]
    assert settings.environment is Environment.production
    assert settings.jwt_jwks_url
    (secrets / "MERITLOOP_JWT_JWKS_URL").unlink()
    with pytest.raises(ValidationError, match="development secret"):
        Settings()


def test_dockerfile_builds_one_non_root_image() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
    assert re.findall(r"^FROM \$\{PYTHON_IMAGE\}", dockerfile, re.MULTILINE)
    assert f"USER {USER_ID}:{USER_ID}" in dockerfile
    assert 'ENTRYPOINT ["meritloop"]' in dockerfile
    # The versions the tests ran with (constraints.txt is in the build context).
    assert "pip install -c /src/constraints.txt /src" in dockerfile
    assert not re.search(r"pip install[^\n]*\[", dockerfile), "no extras (tests) in the image"


# --- monitoring: scrape annotations, the optional Prometheus Operator component, dashboard, alerts


MONITORING = K8S / "monitoring"
COMPONENT = MONITORING / "kustomization.yaml"
DASHBOARD = MONITORING / "meritloop-dashboard.json"
ALERTS = MONITORING / "alerts.yaml"
ALERT_TESTS = Path(__file__).parent / "alerts.promtool.yml"
SERVICE_METRICS_PORT, WORKER_METRICS_PORT = 8000, 9000
METRIC_NAME = re.compile(r"\b(?:meritloop|temporal)_[a-z0-9_]*[a-z0-9]\b")
# What Grafana substitutes before a query reaches Prometheus.
DASHBOARD_VARIABLES = {"$__rate_interval": "5m", "$service": ".*"}


def component_resources() -> list[Path]:
    (document,) = load(COMPONENT)
    return [MONITORING / name for name in document["resources"]]


def monitoring_objects(kind: str) -> list[Manifest]:
    return [doc for path in component_resources() for doc in load(path) if doc["kind"] == kind]


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def alert_rules() -> list[Manifest]:
    (rule,) = load(ALERTS)
    assert rule["kind"] == "PrometheusRule"
    return [entry for group in rule["spec"]["groups"] for entry in group["rules"]]


def meritloop_exported_names() -> set[str]:
    """Every sample name shared/ and notifications/ register with prometheus_client (unlabelled series too)."""
    import notifications.dispatcher  # noqa: F401 - registers the mail counter
    import shared.metrics  # noqa: F401 - registers the metrics

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("meritloop_")
        for suffix in suffixes[family.type]
    }


@functools.cache
def temporal_core_library() -> bytes:
    """The Temporal SDK's core (Rust), where its metric names are defined."""
    (library,) = (Path(temporalio.__file__).parent / "bridge").glob("temporal_sdk_bridge*")
    return library.read_bytes()


def temporal_exports(name: str) -> bool:
    # shared.metrics.temporal_runtime asks for _total on counters and _seconds on durations.
    base = re.sub(r"(_bucket|_count|_sum)$", "", name).removesuffix("_total").removesuffix("_seconds")
    return base.startswith("temporal_") and base.removeprefix("temporal_").encode() in temporal_core_library()


def assert_names_exported_metrics(where: str, expression: str) -> None:
    names = METRIC_NAME.findall(expression)
    assert names, f"{where}: names no metric: {expression}"
    exported = meritloop_exported_names()
    for name in names:
        known = name in exported if name.startswith("meritloop_") else temporal_exports(name)
        assert known, f"{where}: {name} is exported by nothing in this code or the Temporal SDK"


def test_every_deployment_pod_is_scraped_where_it_serves_metrics() -> None:
    deployments = objects("Deployment")
    for name, deployment in deployments.items():
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        container = only_container(deployment)
        ports = {port["containerPort"]: port["name"] for port in container["ports"]}
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        expected = WORKER_METRICS_PORT if name == "worker" else SERVICE_METRICS_PORT
        assert annotations["prometheus.io/port"] == str(expected), name
        assert ports[expected] == ("metrics" if name == "worker" else "http"), name
    worker_env = env_names(only_container(deployments["worker"]))
    assert worker_env["MERITLOOP_WORKER_METRICS_PORT"]["value"] == str(WORKER_METRICS_PORT)
    assert worker_env["MERITLOOP_WORKER_METRICS_HOST"]["value"] == "0.0.0.0"  # noqa: S104 - scraped from outside


def test_monitoring_component_is_optional_and_complete() -> None:
    (component,) = load(COMPONENT)
    assert component["kind"] == "Component", "the Operator's kinds must not be in the base"
    for kustomization in KUSTOMIZATIONS:
        (document,) = load(kustomization)
        assert "monitoring" not in str(document.get("resources", [])), kustomization
    for path in component_resources():
        assert path.is_file(), path
    (generator,) = component["configMapGenerator"]
    assert generator["files"] == [DASHBOARD.name]
    assert generator["namespace"] == "meritloop", "like the other objects: an overlay need not set one"
    assert generator["options"]["labels"]["grafana_dashboard"] == "1"
    for document in [doc for path in component_resources() for doc in load(path)]:
        assert document["metadata"]["labels"][PART_OF] == "meritloop"
        assert document["metadata"]["namespace"] == "meritloop"


def test_pod_monitor_selects_every_pod_on_its_metrics_port() -> None:
    (monitor,) = monitoring_objects("PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    endpoints = {entry["port"]: entry["path"] for entry in monitor["spec"]["podMetricsEndpoints"]}
    for name, deployment in objects("Deployment").items():
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items(), name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        (port,) = [
            port["name"]
            for port in only_container(deployment)["ports"]
            if str(port["containerPort"]) == annotations["prometheus.io/port"]
        ]
        assert endpoints[port] == annotations["prometheus.io/path"], name


def test_dashboard_panels_query_metrics_the_code_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "meritloop-overview"
    expressions = dashboard_expressions()
    for title, expression in expressions:
        assert_names_exported_metrics(f"panel {title!r}", expression)
    shown = " ".join(expression for _, expression in expressions)
    for wanted in (
        "meritloop_http_requests_total",
        "meritloop_http_request_duration_seconds_bucket",
        "meritloop_outbox_pending_events",
        "meritloop_outbox_oldest_pending_age_seconds",
        "meritloop_consumer_dead_letters_total",
        "meritloop_consumer_redeliveries_total",
        "temporal_workflow_task_execution_failed_total",
        "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
    ):
        assert wanted in shown, f"the dashboard shows no {wanted}"
    panel_ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(panel_ids) == len(set(panel_ids))


def test_alert_rules_cover_outbox_dead_letters_and_workflow_tasks() -> None:
    rules = alert_rules()
    for rule in rules:
        assert_names_exported_metrics(f"alert {rule['alert']}", rule["expr"])
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description"} <= rule["annotations"].keys(), rule["alert"]
    by_metric = {name: rule["alert"] for rule in rules for name in METRIC_NAME.findall(rule["expr"])}
    assert "meritloop_outbox_oldest_pending_age_seconds" in by_metric
    assert "meritloop_consumer_dead_letters_total" in by_metric
    assert "temporal_workflow_task_execution_failed_total" in by_metric


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")


def promtool(*args: str, cwd: Path) -> None:
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_rules_and_every_dashboard_query(tmp_path: Path) -> None:
    (rule,) = load(ALERTS)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    recorded = []
    for index, (_, expression) in enumerate(dashboard_expressions()):
        for variable, value in DASHBOARD_VARIABLES.items():
            expression = expression.replace(variable, value)
        recorded.append({"record": f"dashboard:query_{index}", "expr": expression})
    dashboard = {"groups": [{"name": "dashboard", "rules": recorded}]}
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(dashboard), encoding="utf-8")
    promtool("check", "rules", "alerts.yml", "dashboard.yml", cwd=tmp_path)


@needs_promtool
def test_alerts_fire_when_they_should(tmp_path: Path) -> None:
    (rule,) = load(ALERTS)
    spec = rule["spec"]
    for group in spec["groups"]:
        for entry in group["rules"]:
            entry.pop("annotations")
    (tmp_path / "meritloop.rules.yml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    promtool("test", "rules", ALERT_TESTS.name, cwd=tmp_path)


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_kustomize_builds_the_base_with_the_monitoring_component(tmp_path: Path) -> None:
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(K8S, tmp_path)],
        "components": [os.path.relpath(MONITORING, tmp_path)],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay), encoding="utf-8")
    assert KUBECTL is not None
    result = subprocess.run([KUBECTL, "kustomize", str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    built = [document for document in yaml.safe_load_all(result.stdout) if document]
    kinds = {(document["kind"], document["metadata"]["name"]) for document in built}
    assert {("PodMonitor", "meritloop"), ("PrometheusRule", "meritloop")} <= kinds
    (dashboard,) = [d for d in built if d["metadata"]["name"] == "meritloop-grafana-dashboard"]
    assert dashboard["metadata"]["namespace"] == "meritloop"
    assert json.loads(dashboard["data"][DASHBOARD.name]) == json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert all(d["metadata"].get("namespace") == "meritloop" for d in built if d["kind"] != "Namespace")


def test_web_app_runs_behind_its_ingress() -> None:
    deployment = objects("Deployment")["web"]
    container = only_container(deployment)
    assert container["args"][:2] == ["--factory", "web.app:create"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    env = env_names(container)
    for variable in ("MERITLOOP_WEB_SESSION_SECRET", "MERITLOOP_WEB_OIDC_CLIENT_SECRET"):
        assert variable not in env, "secrets come as files"
        assert secret_files(deployment, optional=False)[variable] == (SECRET, variable)
    for service in SERVICES:
        assert env[f"MERITLOOP_WEB_{service.upper()}_URL"]["value"] == f"http://{service}"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert objects("Service")["web"]["spec"]["selector"].items() <= pod_labels.items()
    (rule,) = objects("Ingress")["web"]["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/"
    assert path["backend"]["service"] == {"name": "web", "port": {"name": "http"}}


def test_notifications_run_with_their_database_bus_user_and_smtp_login_as_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployment = objects("Deployment")["notifications"]
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the count"
    container = only_container(deployment)
    assert container["command"] == ["uvicorn"]
    assert container["args"][:2] == ["--factory", "notifications.app:create"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert objects("Service")["notifications"]["spec"]["selector"].items() <= pod_labels.items()
    assert objects("PodDisruptionBudget")["notifications"]["spec"]["selector"]["matchLabels"].items() <= (
        pod_labels.items()
    )
    assert objects("HorizontalPodAutoscaler")["notifications"]["spec"]["minReplicas"] >= 2
    # The SMTP password is a file, optional (a relay without a login needs none).
    assert secret_files(deployment, optional=True)["MERITLOOP_SMTP_PASSWORD"] == (SECRET, "MERITLOOP_SMTP_PASSWORD")
    job = objects("Job")["migrate-notifications"]
    assert only_container(job)["args"] == ["migrate", "--service", "notifications"]

    # What the pod sees makes valid production settings of the component.
    monkeypatch.chdir(tmp_path)
    for variable in SETTING_NAMES:
        monkeypatch.delenv(variable, raising=False)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for variable, value in config_data().items():
        monkeypatch.setenv(variable, value)
    for entry in container["env"]:
        monkeypatch.setenv(entry["name"], entry["value"])
    monkeypatch.setenv("MERITLOOP_SECRETS_DIR", str(secrets))
    for variable, value in secret_example().items():
        (secrets / variable).write_text(value)
    (secrets / "MERITLOOP_NATS_PASSWORD").write_text(secret_example("meritloop-nats-users")["notifications"])
    settings = NotificationSettings()
    assert settings.environment is Environment.production
    assert settings.nats_user == "notifications"
    assert settings.notifications_url == secret_example()["MERITLOOP_NOTIFICATIONS_DATABASE_URL"]
    assert settings.smtp_password == secret_example()["MERITLOOP_SMTP_PASSWORD"]
    assert (settings.smtp_port, settings.smtp_security.value) == (587, "starttls")


def test_the_feedback_kek_example_is_a_key_file_the_service_reads(tmp_path: Path) -> None:
    from services.feedback.crypto import FileKeyProvider

    line = secret_example(KEK_SECRET)[KEK_FILE].strip()
    assert line.startswith("kek-"), "one `id:base64` line, the current key first"
    assert ":" in line
    path = tmp_path / KEK_FILE
    path.write_text(f"kek-20261130:{base64.b64encode(bytes(range(32))).decode()}\n")
    assert FileKeyProvider(path).current_id == "kek-20261130"
