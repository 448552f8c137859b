"""The container image, docker-compose.yml and the Kubernetes manifests, checked without a container engine (unit
tier): the manifests validate against the Kubernetes schemas offline (kubernetes-validate), and every command, flag,
setting and WARPDRIVE_* variable they use exists in the code — the click commands and schemas/config.py are asked."""

from __future__ import annotations

import copy
import os
import re
import shlex
from pathlib import Path
from typing import Any, Iterator

import click
import kubernetes_validate
import pytest
import yaml

from warpdrive.compose.main import cli
from warpdrive.schemas import config as wconfig

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "compose" / "k8s"
KUBERNETES_VERSION = "1.30.0"


def k8s_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def by_kind(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


WORKLOADS = ("Deployment", "DaemonSet", "Job", "CronJob")


def pod_containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = (doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"])["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def compose_file() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())


def dockerfile_entrypoint() -> list[str]:
    m = re.search(r"^ENTRYPOINT (\[.*\])$", (ROOT / "compose" / "Dockerfile").read_text(), re.M)
    assert m, "the Dockerfile has no exec-form ENTRYPOINT"
    return yaml.safe_load(m.group(1))


def warpdrive_command_lines() -> Iterator[tuple[str, list[str]]]:
    """(where, argv after `warpdrive`) of every WarpDrive invocation in the manifests and docker-compose.yml."""
    assert dockerfile_entrypoint() == ["warpdrive"]
    for doc in k8s_documents():
        if doc["kind"] not in WORKLOADS:
            continue
        for c in pod_containers(doc):
            where = f"{doc['kind']}/{doc['metadata']['name']}/{c['name']}"
            assert c["image"] == "warpdrive" and "command" not in c, f"{where}: the image's entrypoint runs warpdrive"
            yield where, c["args"]
            for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
                if cmd := c.get(probe_name, {}).get("exec", {}).get("command"):
                    assert cmd[0] == "warpdrive", f"{where} {probe_name}: {cmd}"
                    yield f"{where} {probe_name}", cmd[1:]
            if cmd := c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command"):
                assert cmd[0] == "warpdrive"
                yield f"{where} preStop", cmd[1:]
    for name, svc in compose_file()["services"].items():
        if svc.get("image") == "warpdrive:dev":
            cmd = svc["command"]
            yield f"compose/{name}", shlex.split(cmd) if isinstance(cmd, str) else cmd


def resolve(argv: list[str]) -> click.Command:
    """Parses argv as `warpdrive` would (every subcommand, option and argument), without running it."""
    cmd: click.Command = cli
    name, args, ctx = "warpdrive", list(argv), None
    while True:
        ctx = cmd.make_context(name, args, parent=ctx)
        if not isinstance(cmd, click.Group):
            return cmd
        sub_name, sub, sub_args = cmd.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert sub is not None and sub_name is not None
        cmd, name, args = sub, sub_name, sub_args


def environment_variables() -> Iterator[tuple[str, str, str | None]]:
    """(where, name, value or None when taken from the cluster) of every WARPDRIVE_* variable set anywhere."""
    for m in re.finditer(r"^ENV (WARPDRIVE_\w+)=(\S+)$", (ROOT / "compose" / "Dockerfile").read_text(), re.M):
        yield "Dockerfile", m.group(1), m.group(2)
    for doc in k8s_documents():
        if doc["kind"] == "Secret":
            for k, v in doc.get("stringData", {}).items():
                yield f"Secret/{doc['metadata']['name']}", k, v
        if doc["kind"] in WORKLOADS:
            for c in pod_containers(doc):
                for e in c.get("env", []):
                    yield f"{doc['metadata']['name']}/{c['name']}", e["name"], e.get("value")
    for name, svc in compose_file()["services"].items():
        for k, v in (svc.get("environment") or {}).items():
            if k.startswith("WARPDRIVE_") or svc.get("image") == "warpdrive:dev":  # not Kafka's or PostgreSQL's own
                yield f"compose/{name}", k, v


# ---- tests ------------------------------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    docs = k8s_documents()
    assert {d["kind"] for d in docs} >= {"ConfigMap", "Secret", "Job", "CronJob", "Deployment", "DaemonSet", "Service"}
    for d in docs:
        kubernetes_validate.validate(d, KUBERNETES_VERSION, strict=True)
    # The validation can fail: a misspelt field and a wrong type are refused.
    bad = copy.deepcopy(by_kind("Deployment", "warpdrive-api"))
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
    bad = copy.deepcopy(by_kind("DaemonSet", "warpdrive-agent"))
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_every_command_and_flag_exists() -> None:
    seen = set()
    for where, argv in warpdrive_command_lines():
        try:
            cmd = resolve(argv)
        except click.UsageError as e:
            pytest.fail(f"{where}: `warpdrive {' '.join(argv)}`: {e.format_message()}")
        seen.add(cmd.name)
    assert {"migrate", "serve", "worker", "run", "mount", "create"} <= seen
    with pytest.raises(click.UsageError):  # and the check can fail
        resolve(["streams", "worker", "--threads", "4"])
    with pytest.raises(click.UsageError):
        resolve(["migrate", "--force"])


def test_every_warpdrive_variable_is_a_setting() -> None:
    known = {env for _, env, _, _ in wconfig.settings_help()} | {"WARPDRIVE_CONFIG"}
    found = list(environment_variables())
    assert found
    for where, name, _ in found:
        assert name.startswith("WARPDRIVE_") and name in known, f"{where}: {name} is not a WarpDrive setting"


def load_shipped_config(toml: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> wconfig.Config:
    """The ConfigMap's warpdrive.toml with the Secret's variables ("k8s"), or the compose config ("compose"), loaded
    as the containers would load them."""
    for var in [v for v in os.environ if v.startswith("WARPDRIVE_")]:
        monkeypatch.delenv(var)
    if toml == "k8s":
        text = by_kind("ConfigMap", "warpdrive-config")["data"]["warpdrive.toml"]
        for where, name, value in environment_variables():
            if where == "Secret/warpdrive-secrets" and value is not None:
                monkeypatch.setenv(name, value)
    else:
        text = (ROOT / "compose" / "warpdrive.compose.toml").read_text()
    path = tmp_path / "warpdrive.toml"
    path.write_text(text)
    return wconfig.load(path)


@pytest.mark.parametrize("toml", ["k8s", "compose"])
def test_the_shipped_configs_load(toml: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """They pass the config's own validation (which names the first bad key)."""
    cfg = load_shipped_config(toml, monkeypatch, tmp_path)
    assert cfg.postgres.dsn and cfg.backends
    if toml == "k8s":
        assert cfg.kafka.security_protocol == "SASL_SSL" and cfg.kafka.sasl_password and cfg.kafka.topic_prefix
        assert [t.role for t in cfg.api.tokens] == ["admin"]


def test_agent_daemonset_can_mount_fuse_for_the_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ds = by_kind("DaemonSet", "warpdrive-agent")
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    volumes = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert volumes[mounts["/dev/fuse"]["name"]]["hostPath"]["path"] == "/dev/fuse"
    assert "SYS_ADMIN" in c["securityContext"]["capabilities"]["add"]
    mountpoint = c["args"][-1]
    assert mounts[mountpoint]["mountPropagation"] == "Bidirectional"
    assert c["securityContext"]["privileged"] is True  # Kubernetes allows Bidirectional to privileged containers only
    assert "hostPath" in volumes[mounts[mountpoint]["name"]]
    # The block cache and the spool are on the host, under a hostPath mount, so they survive a pod restart.
    cfg = load_shipped_config("k8s", monkeypatch, tmp_path)
    cache_mounts = [
        p for p, m in mounts.items() if "hostPath" in volumes[m["name"]] and p not in ("/dev/fuse", mountpoint)
    ]
    for d in (cfg.agent.cache_dir, cfg.agent.spool_dir):
        assert any(d.startswith(p + "/") for p in cache_mounts), d
    env = {e["name"]: e for e in c["env"]}
    assert env["WARPDRIVE_AGENT_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def test_services_have_probes_and_the_api_probes_exist() -> None:
    from warpdrive.api.app import all_endpoints

    public = {ep.path for ep in all_endpoints() if ep.method == "GET" and ep.public}
    for name in ("warpdrive-api", "warpdrive-streams", "warpdrive-crawler"):
        (c,) = by_kind("Deployment", name)["spec"]["template"]["spec"]["containers"]
        assert "readinessProbe" in c, name
        for probe in ("livenessProbe", "readinessProbe"):
            if c.get(probe, {}).get("httpGet", {}).get("port") == "http":  # the API's own port (metrics: below)
                path = c[probe]["httpGet"]["path"]
                assert path in public, f"{name} {probe}: {path} is not a public GET route of the API"
    (api,) = by_kind("Deployment", "warpdrive-api")["spec"]["template"]["spec"]["containers"]
    assert (
        api["livenessProbe"]["httpGet"]["path"] == "/healthz" and api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    )


def test_migrations_run_before_the_services() -> None:
    job = by_kind("Job", "warpdrive-migrate")
    assert [c["args"] for c in pod_containers(job)] == [["migrate"], ["topics", "create"]]
    services = compose_file()["services"]
    for name, svc in services.items():
        if svc.get("image") == "warpdrive:dev" and name not in ("migrate", "topics"):
            assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name


def test_metrics_probes_match_the_configured_metrics_port(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Workers, crawler and agents serve /metrics and /healthz on their section's metrics_listen, workers and
    crawler /readyz too (schemas/metrics.py): their probes and scrape annotations use that port, and a readiness
    probe waits longer than the process's own probe deadline (ready_timeout)."""
    cfg = load_shipped_config("k8s", monkeypatch, tmp_path)
    for kind, name, section in (
        ("Deployment", "warpdrive-streams", cfg.streams),
        ("Deployment", "warpdrive-crawler", cfg.crawler),
        ("DaemonSet", "warpdrive-agent", cfg.agent),
    ):
        doc = by_kind(kind, name)
        (c,) = doc["spec"]["template"]["spec"]["containers"]
        port = int(section.metrics_listen.rpartition(":")[2])
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["metrics"] == port, name
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}, name
        assert doc["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port), name
        if kind == "Deployment":
            ready = c["readinessProbe"]
            assert ready["httpGet"] == {"path": "/readyz", "port": "metrics"}, name
            assert ready["timeoutSeconds"] > section.ready_timeout, name
