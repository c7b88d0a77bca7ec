"""Every manifest against the Kubernetes API schemas and a policy scan, offline.

Schemas: the `kubernetes-validate` package (PyPI) carries the OpenAPI schemas of each
Kubernetes release; nothing is downloaded when the tests run. Strict mode also refuses
fields the API does not know (a typo that kubectl would silently drop).

Policies: the checks below (ids ML-1 ...), written here rather than taken from a scanner
(checkov pulls some 80 packages and was not needed for these rules); docs/deployment.md
lists them. Exceptions are named in EXCEPTIONS with their reason, nowhere else.

Network: the NetworkPolicies are evaluated (the semantics of networking.k8s.io/v1 for the
selectors and ports used here) against the flows the system needs and flows it must not have.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from shared.events.trust import BUS_USERS, chart_authorization, chart_environment
from shared.settings import SERVICES
from tests.deploy.test_manifests import (
    DEPLOY,
    K8S,
    Manifest,
    applied,
    component_resources,
    load,
    objects,
    pod_spec,
    workloads,
)

KUBERNETES_VERSION = "1.30.0"  # the oldest release still supported where this was written
OVERLAYS = DEPLOY / "overlays" / "production"
NATS_VALUES = DEPLOY / "helm" / "nats.values.yaml"
DIGEST = re.compile(r"^[a-z0-9./-]+@sha256:[0-9a-f]{64}$")
NAMESPACE = "meritloop"
CRD_KINDS = {"PodMonitor", "PrometheusRule"}  # Prometheus Operator kinds: not in the Kubernetes schemas

# (policy id, object "Kind/name") -> why the rule does not apply there.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("ML-6", "Job/migrate-goals"): "a Job runs to completion; it has no probes",
    ("ML-6", "Job/migrate-feedback"): "a Job runs to completion; it has no probes",
    ("ML-6", "Job/migrate-reviews"): "a Job runs to completion; it has no probes",
    ("ML-6", "Job/migrate-rewards"): "a Job runs to completion; it has no probes",
    ("ML-6", "Job/migrate-notifications"): "a Job runs to completion; it has no probes",
    ("ML-6", "Job/provision-bus"): "a Job runs to completion; it has no probes",
    ("ML-9", "Deployment/worker"): "its load is Temporal's task queue, not CPU: scaled by hand (docs/operations.md)",
}


def example_documents() -> list[Manifest]:
    return [doc for path in sorted(K8S.glob("*.example.yaml")) for doc in load(path)]


def nats_values() -> Manifest:
    (values,) = load(NATS_VALUES)
    return values


def nats_network_policies() -> list[Manifest]:
    return [
        {**resource, "metadata": {**resource["metadata"], "namespace": "nats"}}
        for resource in nats_values()["extraResources"]
    ]


KUBECTL = shutil.which("kubectl")


def built(overlay: Path) -> list[Manifest]:
    assert KUBECTL is not None
    result = subprocess.run([KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def every_document() -> Iterator[tuple[str, Manifest]]:
    for document in applied():
        yield "base", document
    for path in component_resources():
        for document in load(path):
            yield path.name, document
    for document in example_documents():
        yield "example", document
    for document in nats_network_policies():
        yield "nats values", document


# ----------------------------------------------------------------------------- schemas


def test_every_object_is_valid_against_the_kubernetes_schema() -> None:
    checked = 0
    for _where, document in every_document():
        if document["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 30, f"only {checked} objects validated: did the manifests move?"


def test_the_validator_refuses_a_broken_object() -> None:
    """The check itself can fail: an unknown field and a wrong type are both reported."""
    (deployment,) = [d for d in applied() if d["kind"] == "Deployment" and d["metadata"]["name"] == "goals"]
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)
    wrong = {**deployment, "spec": {**deployment["spec"], "revisionHistoryLimit": "five"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
@pytest.mark.parametrize("overlay", [OVERLAYS, OVERLAYS / "migrations"], ids=["production", "migrations"])
def test_the_production_overlays_build_valid_objects_with_images_by_digest(overlay: Path) -> None:
    documents = built(overlay)
    images = []
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        if document["kind"] in ("Deployment", "Job"):
            images += [container["image"] for container in pod_spec(document)["containers"]]
    assert images
    for image in images:
        assert DIGEST.match(image), f"{image} is not pinned by digest"


def test_the_production_overlays_pin_a_digest() -> None:
    for path in (OVERLAYS / "kustomization.yaml", OVERLAYS / "migrations" / "kustomization.yaml"):
        (document,) = load(path)
        (image,) = document["images"]
        assert image["name"] == "ghcr.io/meritloop/meritloop"
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", image["digest"]), path
        assert "newTag" not in image, path


# ----------------------------------------------------------------------------- policies


def label(document: Manifest) -> str:
    return f"{document['kind']}/{document['metadata']['name']}"


def violations() -> list[tuple[str, str, str]]:
    """(policy id, object, what is wrong) for every object of the base and the migrations."""
    found: list[tuple[str, str, str]] = []

    def check(policy: str, document: Manifest, ok: bool, what: str) -> None:
        if not ok and (policy, label(document)) not in EXCEPTIONS:
            found.append((policy, label(document), what))

    budgets = list(objects("PodDisruptionBudget").values())
    autoscalers = list(objects("HorizontalPodAutoscaler").values())
    for workload in workloads():
        spec = pod_spec(workload)
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        check("ML-1", workload, spec.get("securityContext", {}).get("runAsNonRoot") is True, "pod may run as root")
        seccomp = spec.get("securityContext", {}).get("seccompProfile", {}).get("type")
        check("ML-1", workload, seccomp == "RuntimeDefault", "no RuntimeDefault seccomp profile")
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            check("ML-2", workload, not spec.get(flag, False), f"{flag} is on")
        check("ML-2", workload, not any("hostPath" in v for v in spec.get("volumes", [])), "mounts a hostPath")
        check("ML-4", workload, spec.get("automountServiceAccountToken") is False, "mounts an API token")
        for container in spec["containers"] + spec.get("initContainers", []):
            security = container.get("securityContext", {})
            check("ML-1", workload, security.get("allowPrivilegeEscalation") is False, "may escalate privileges")
            check("ML-1", workload, not security.get("privileged", False), "privileged container")
            check("ML-1", workload, security.get("readOnlyRootFilesystem") is True, "writable root filesystem")
            check("ML-1", workload, security.get("capabilities", {}).get("drop") == ["ALL"], "keeps capabilities")
            check("ML-1", workload, not security.get("capabilities", {}).get("add"), "adds capabilities")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                check("ML-3", workload, {"cpu", "memory"} <= resources.get(bound, {}).keys(), f"no cpu/memory {bound}")
            env = container.get("env", [])
            check("ML-5", workload, not any("secretKeyRef" in e.get("valueFrom", {}) for e in env), "secret in env")
            check("ML-5", workload, not any("secretRef" in e for e in container.get("envFrom", [])), "secret in env")
            check("ML-6", workload, "livenessProbe" in container, "no liveness probe")
            check("ML-6", workload, "readinessProbe" in container, "no readiness probe")
            image = container["image"]
            check("ML-7", workload, ":" in image.rsplit("/", 1)[-1] or "@" in image, "image without tag or digest")
            check("ML-7", workload, not image.endswith(":latest"), "image tagged latest")
        if workload["kind"] != "Deployment":
            continue
        selects = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()]
        check("ML-8", workload, len(selects) == 1, "not exactly one PodDisruptionBudget")
        scaled = [
            a
            for a in autoscalers
            if a["spec"]["scaleTargetRef"]
            == {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload["metadata"]["name"]}
        ]
        check("ML-9", workload, len(scaled) == 1, "no HorizontalPodAutoscaler")
        lowest = scaled[0]["spec"]["minReplicas"] if scaled else workload["spec"].get("replicas", 1)
        for budget in selects:
            # A budget that allows no eviction at the lowest count blocks every node drain.
            check("ML-8", workload, budget["spec"]["minAvailable"] < lowest, "the budget blocks node drains")
    return found


def test_policy_scan_finds_nothing_outside_the_documented_exceptions() -> None:
    assert violations() == []


def test_every_exception_is_still_needed() -> None:
    names = {label(workload) for workload in workloads()}
    for policy, target in EXCEPTIONS:
        assert target in names, f"exception ({policy}, {target}) names an object that no longer exists"


def test_the_policy_scan_catches_what_it_should(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rule can fail: an unhardened, unprobed, secret-in-env worker trips them."""
    original = applied()

    def broken() -> list[Manifest]:
        documents = yaml.safe_load(yaml.safe_dump(original))
        for document in documents:
            if document["kind"] == "Deployment" and document["metadata"]["name"] == "goals":
                container = document["spec"]["template"]["spec"]["containers"][0]
                container["securityContext"]["readOnlyRootFilesystem"] = False
                container.pop("livenessProbe")
                container["env"].append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})
                container["image"] = "ghcr.io/meritloop/meritloop:latest"
                document["spec"]["template"]["spec"]["hostNetwork"] = True
        return [d for d in documents if d["kind"] != "HorizontalPodAutoscaler"]

    import tests.deploy.test_manifests as manifests

    monkeypatch.setattr(manifests, "applied", broken)
    monkeypatch.setattr(__import__(__name__, fromlist=["applied"]), "applied", broken)
    found = {(policy, target) for policy, target, _what in violations()}
    for policy in ("ML-1", "ML-2", "ML-5", "ML-6", "ML-7", "ML-9"):
        assert (policy, "Deployment/goals") in found, policy


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    labels = objects("Namespace")[NAMESPACE]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# ----------------------------------------------------------------------------- network flows


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.namespace, tuple(sorted(self.labels.items()))))


EXTERNAL = Pod("<internet>")


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
    return True


def peer_matches(peer: Manifest, policy_namespace: str, other: Pod) -> bool:
    if "ipBlock" in peer:
        return other is EXTERNAL  # the only ipBlock peers used here are outside the cluster
    if other is EXTERNAL:
        return False
    if "namespaceSelector" in peer:
        namespace_ok = selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace})
    else:
        namespace_ok = other.namespace == policy_namespace
    return namespace_ok and selects(peer.get("podSelector", {}), other.labels)


def port_matches(ports: list[Manifest] | None, port: int, protocol: str) -> bool:
    return ports is None or any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports)


def admits(policies: list[Manifest], pod: Pod, direction: str, other: Pod, port: int, protocol: str) -> bool:
    """Whether ``pod`` may receive from (Ingress) or send to (Egress) ``other`` on ``port``."""
    key, peers_key = direction.lower(), "from" if direction == "Ingress" else "to"
    relevant = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not relevant:
        return True  # not isolated in that direction
    for policy in relevant:
        for rule in policy["spec"].get(key, []):
            peers = rule.get(peers_key)
            peer_ok = peers is None or any(peer_matches(peer, pod.namespace, other) for peer in peers)
            if peer_ok and port_matches(rule.get("ports"), port, protocol):
                return True
    return False


@functools.cache
def network_policies() -> list[Manifest]:
    return [d for d in [*applied(), *nats_network_policies()] if d["kind"] == "NetworkPolicy"]


def flow(source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
    """Both ends' policies must allow it; only this repository's namespaces carry policies here."""
    policies = network_policies()
    leaves = source is EXTERNAL or admits(policies, source, "Egress", target, port, protocol)
    arrives = target is EXTERNAL or admits(policies, target, "Ingress", source, port, protocol)
    return leaves and arrives


@functools.cache
def meritloop_pod(workload: str) -> Pod:
    deployments = {**objects("Deployment"), **objects("Job")}
    return Pod(NAMESPACE, deployments[workload]["spec"]["template"]["metadata"]["labels"])


ANYONE_IN = {name: Pod(name, {"app": "anything"}) for name in ("ingress-nginx", "monitoring", "default")}
NATS = Pod("nats", {"app.kubernetes.io/name": "nats"})
TEMPORAL = Pod("temporal", {"app.kubernetes.io/name": "temporal"})
POSTGRES = Pod("postgres", {"app": "postgres"})
COLLECTOR = Pod("observability", {"app": "collector"})
DNS = Pod("kube-system", {"k8s-app": "kube-dns"})


def test_a_default_deny_covers_every_pod_both_ways() -> None:
    denies = [
        p
        for p in objects("NetworkPolicy").values()
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(denies) == 1


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_exactly_its_flows(service: str) -> None:
    pod = meritloop_pod(service)
    assert flow(ANYONE_IN["ingress-nginx"], pod, 8000)
    assert flow(ANYONE_IN["monitoring"], pod, 8000)
    assert flow(pod, NATS, 4222)
    assert flow(pod, POSTGRES, 5432)
    assert flow(pod, DNS, 53, "UDP")
    assert flow(pod, EXTERNAL, 443), "the identity provider's keys"
    assert flow(pod, COLLECTOR, 4318)
    with_activities = ("feedback", "reviews", "rewards")
    assert flow(pod, TEMPORAL, 7233) is (service in with_activities), "only the services with activities"

    assert not flow(ANYONE_IN["default"], pod, 8000), "only the ingress controller and Prometheus"
    assert not flow(EXTERNAL, pod, 8000)
    assert not flow(pod, EXTERNAL, 80)
    assert not flow(pod, NATS, 8222), "NATS monitoring is Prometheus' only"
    for other in SERVICES:
        assert not flow(pod, meritloop_pod(other), 8000), "services talk through NATS, never directly"
    assert not flow(pod, meritloop_pod("worker"), 8080)


def test_the_web_app_reaches_the_apis_and_nothing_else() -> None:
    web = meritloop_pod("web")
    assert flow(ANYONE_IN["ingress-nginx"], web, 8000)
    for service in SERVICES:
        assert flow(web, meritloop_pod(service), 8000)
    assert flow(web, EXTERNAL, 443), "the identity provider"
    assert flow(web, DNS, 53, "UDP")
    assert not flow(ANYONE_IN["default"], web, 8000)
    assert not flow(web, NATS, 4222)
    assert not flow(web, POSTGRES, 5432)
    assert not flow(web, TEMPORAL, 7233)
    assert not flow(web, meritloop_pod("worker"), 8080)


def test_notifications_reach_the_bus_their_database_and_the_mail_relay() -> None:
    pod = meritloop_pod("notifications")
    assert flow(ANYONE_IN["ingress-nginx"], pod, 8000), "the preferences API"
    assert flow(ANYONE_IN["monitoring"], pod, 8000)
    assert flow(meritloop_pod("web"), pod, 8000), "the web app's settings page"
    assert flow(pod, NATS, 4222)
    assert flow(pod, POSTGRES, 5432)
    assert flow(pod, DNS, 53, "UDP")
    assert flow(pod, EXTERNAL, 443), "the identity provider's keys"
    for port in (587, 465, 25):
        assert flow(pod, EXTERNAL, port), f"SMTP on {port}"
    assert not flow(pod, TEMPORAL, 7233)
    assert not flow(ANYONE_IN["default"], pod, 8000)
    assert not flow(EXTERNAL, pod, 8000)
    assert not flow(pod, EXTERNAL, 80)
    for service in SERVICES:
        assert not flow(pod, meritloop_pod(service), 8000), "it reads the services' events, never their APIs"
        assert not flow(meritloop_pod(service), EXTERNAL, 587), "only notifications send mail"
    assert not flow(meritloop_pod("web"), EXTERNAL, 25)
    job = meritloop_pod("migrate-notifications")
    assert flow(job, POSTGRES, 5432)
    assert not flow(job, NATS, 4222)
    assert not flow(job, EXTERNAL, 587)


def test_the_worker_reaches_temporal_only() -> None:
    worker = meritloop_pod("worker")
    assert flow(worker, TEMPORAL, 7233)
    assert flow(worker, DNS, 53, "UDP")
    assert flow(ANYONE_IN["monitoring"], worker, 9000)
    assert not flow(worker, NATS, 4222)
    assert not flow(worker, POSTGRES, 5432)
    assert not flow(worker, EXTERNAL, 443)
    assert not flow(ANYONE_IN["ingress-nginx"], worker, 9000)


@pytest.mark.parametrize("service", SERVICES)
def test_a_migration_reaches_its_database_only(service: str) -> None:
    job = meritloop_pod(f"migrate-{service}")
    assert flow(job, POSTGRES, 5432)
    assert not flow(job, NATS, 4222)
    assert not flow(job, TEMPORAL, 7233)
    assert not flow(job, EXTERNAL, 443)
    assert not flow(ANYONE_IN["monitoring"], job, 8000)


def test_the_bus_provisioning_job_reaches_nats_only() -> None:
    job = meritloop_pod("provision-bus")
    assert flow(job, NATS, 4222)
    assert flow(job, DNS, 53, "UDP")
    assert not flow(job, POSTGRES, 5432)
    assert not flow(job, TEMPORAL, 7233)
    assert not flow(job, EXTERNAL, 443)


def test_nats_admits_only_the_services() -> None:
    assert flow(meritloop_pod("goals"), NATS, 4222)
    assert not flow(Pod(NAMESPACE, {"app.kubernetes.io/part-of": "meritloop"}), NATS, 4222)
    assert not flow(ANYONE_IN["default"], NATS, 4222)
    assert flow(NATS, NATS, 6222), "cluster routes between the NATS pods"
    assert flow(ANYONE_IN["monitoring"], NATS, 8222)


# ----------------------------------------------------------------------------- the NATS chart's users


def test_the_nats_values_hold_the_users_of_the_trust_table() -> None:
    values = nats_values()
    assert values["config"]["merge"]["authorization"] == chart_authorization(), (
        "regenerate config.merge.authorization of deploy/helm/nats.values.yaml from shared/events/trust.py"
    )
    assert values["container"]["env"] == chart_environment()
    assert values["natsBox"]["enabled"] is False, "nats-box would have no user"
    users = {user["user"] for user in values["config"]["merge"]["authorization"]["users"]}
    assert users == {component.name for component in BUS_USERS}
    for user in values["config"]["merge"]["authorization"]["users"]:
        assert user["password"].startswith("<< $"), "passwords come from the Secret, never the values"


def test_the_documented_secret_holds_every_password_the_nats_chart_reads() -> None:
    """A key the chart's environment names but the Secret lacks keeps the NATS pods from starting."""
    guide = (DEPLOY.parent / "docs" / "deployment.md").read_text()
    command = guide.split("create secret generic meritloop-nats-users", 1)[1].split("\n#", 1)[0]
    documented = set(re.findall(r"--from-literal=([a-z]+)=", command))
    read = {ref["valueFrom"]["secretKeyRef"]["key"] for ref in nats_values()["container"]["env"].values()}
    assert documented == read == {component.name for component in BUS_USERS}


# ----------------------------------------------------------------------------- checkov, when installed

# checkov (PyPI) is a second scanner over what production applies. It is not a project
# dependency (it brings ~100 packages and pins older ones than the project's); install it in a
# virtual environment of its own and point CHECKOV at it, or have it on PATH:
#   python3 -m venv .checkov && .checkov/bin/pip install checkov && export CHECKOV=.checkov/bin/checkov
# Checks skipped, with their reason (none so far: the production overlay passes all of them).
CHECKOV_SKIPS: dict[str, str] = {}
CHECKOV = os.environ.get("CHECKOV") or shutil.which("checkov")


@pytest.mark.skipif(CHECKOV is None or KUBECTL is None, reason="checkov or kubectl not installed")
def test_checkov_passes_the_production_overlays(tmp_path: Path) -> None:
    for name, overlay in (("production", OVERLAYS), ("migrations", OVERLAYS / "migrations")):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(built(overlay)), encoding="utf-8")
    assert CHECKOV is not None
    command = [CHECKOV, "-d", str(tmp_path), "--framework", "kubernetes", "--skip-download", "--quiet", "-o", "json"]
    if CHECKOV_SKIPS:
        command += ["--skip-check", ",".join(CHECKOV_SKIPS)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [(c["check_id"], c["resource"]) for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], failed
    assert sum(r["summary"]["passed"] for r in reports) > 100, "checkov checked (almost) nothing"
