"""deploy/: the Kubernetes manifests and the Dockerfile, checked by parsing them.

No cluster and no Docker engine are involved: these tests catch broken YAML, files missing
from a kustomization, unhardened pods, wrong probes and setting names that
shared/settings.py does not know (a misspelt MERITLOOP_* variable is silently ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from shared.settings import SERVICES, Environment, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCS = ROOT / "docs" / "deployment.md"
KUSTOMIZATIONS = (K8S / "kustomization.yaml", K8S / "migrations" / "kustomization.yaml")
IMAGE = "ghcr.io/meritloop/meritloop"
IMAGE_TAG = "0.1.0"
USER_ID = 10001
CONFIGMAP, SECRET = "meritloop-config", "meritloop-secrets"
PART_OF = "app.kubernetes.io/part-of"
NAME = "app.kubernetes.io/name"

SETTING_NAMES = frozenset(f"MERITLOOP_{field.upper()}" for field in Settings.model_fields)
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
    assert deployment["spec"]["replicas"] == 2
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
        (mount,) = container["volumeMounts"]
        assert mount["mountPath"] == "/tmp", where
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert "emptyDir" in volumes[mount["name"]], where
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


def test_each_pod_receives_only_the_database_urls_it_needs() -> None:
    for workload in workloads():
        container = only_container(workload)
        assert container["envFrom"] == [{"configMapRef": {"name": CONFIGMAP}}]
        urls = {name for name in env_names(container) if name.endswith("_DATABASE_URL")}
        if workload["metadata"]["name"] == "worker":
            # It runs workflows only: the activities run in the services that own the data.
            expected = set()
        else:
            service = workload["metadata"]["labels"][NAME].removeprefix("meritloop-")
            expected = {f"MERITLOOP_{service.upper()}_DATABASE_URL"}
        assert urls == expected
        for variable in expected:
            reference = env_names(container)[variable]["valueFrom"]["secretKeyRef"]
            assert reference == {"name": SECRET, "key": variable}, "the URL must be required"


def test_services_with_activities_get_temporal_and_their_queue() -> None:
    config = objects("ConfigMap")[CONFIGMAP]["data"]
    assert config["MERITLOOP_TEMPORAL_REVIEWS_TASK_QUEUE"] == "reviews"
    assert config["MERITLOOP_TEMPORAL_REWARDS_TASK_QUEUE"] == "rewards"
    assert config["MERITLOOP_TEMPORAL_ADDRESS"]
    for name in ("reviews", "rewards"):
        env = env_names(only_container(objects("Deployment")[name]))
        assert "MERITLOOP_TEMPORAL_ACTIVITY_WORKER" not in env, "the activity worker runs in the service"


def test_every_pod_can_read_the_token_settings() -> None:
    # Settings are validated in every process (migrations and worker too), and
    # production refuses to start without a real JWT secret or a JWKS URL.
    for workload in workloads():
        env = env_names(only_container(workload))
        for variable in ("MERITLOOP_JWT_JWKS_URL", "MERITLOOP_JWT_SECRET"):
            reference = env[variable]["valueFrom"]["secretKeyRef"]
            assert reference == {"name": SECRET, "key": variable, "optional": True}


@pytest.mark.parametrize("name", SERVICES)
def test_migration_job_migrates_its_service(name: str) -> None:
    job = objects("Job")[f"migrate-{name}"]
    assert "command" not in only_container(job), "the image entrypoint is `meritloop`"
    assert only_container(job)["args"] == ["migrate", "--service", name]
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_worker_runs_meritloop_worker() -> None:
    worker = objects("Deployment")["worker"]
    assert worker["spec"]["replicas"] == 2
    assert "command" not in only_container(worker)
    assert only_container(worker)["args"] == ["worker"]


def test_every_meritloop_variable_is_a_setting() -> None:
    for path, text in deploy_texts():
        unknown = set(SETTING_PATTERN.findall(text)) - SETTING_NAMES
        assert not unknown, f"{path.relative_to(ROOT)} names unknown settings {sorted(unknown)}"
    for workload in workloads():
        assert env_names(only_container(workload)).keys() <= SETTING_NAMES


def config_data() -> dict[str, str]:
    data: dict[str, str] = objects("ConfigMap")[CONFIGMAP]["data"]
    return data


def secret_example() -> dict[str, str]:
    (secret,) = load(K8S / "secret.example.yaml")
    assert secret["metadata"]["name"] == SECRET
    data: dict[str, str] = secret["stringData"]
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
    for variable, value in {**config_data(), **secret_example()}.items():
        monkeypatch.setenv(variable, value)
    settings = Settings()
    assert settings.environment is Environment.production
    assert settings.jwt_jwks_url
    monkeypatch.delenv("MERITLOOP_JWT_JWKS_URL")
    with pytest.raises(ValidationError, match="development secret"):
        Settings()


def test_dockerfile_builds_one_non_root_image() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
    assert re.findall(r"^FROM \$\{PYTHON_IMAGE\}", dockerfile, re.MULTILINE)
    assert f"USER {USER_ID}:{USER_ID}" in dockerfile
    assert 'ENTRYPOINT ["meritloop"]' in dockerfile
    assert "pip install /src" in dockerfile
    assert not re.search(r"pip install[^\n]*\[", dockerfile), "no extras (tests) in the image"
