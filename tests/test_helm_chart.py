"""deploy/helm/costobs: `helm lint`, `helm template` of the defaults and every example, each
rendered object validated offline against the Kubernetes schemas (kubernetes-validate), and
what the chart promises checked in the objects. No cluster here: `helm install` itself is
not run (even `--dry-run=client` contacts a cluster), `helm template` renders the same.

helm comes from `make helm` (built from the Go module proxy into .tools/bin); without it the
tests skip, except in CI, where .ci/run builds it first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from costobs_server.nats_auth import ADMIN, ROLES, password_variable, server_mode_authorization
from costobs_server.settings import Settings
from tests.test_deploy_files import ROLE_PORTS, _subcommands

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "costobs"
EXAMPLES = sorted((ROOT / "deploy" / "k8s-examples").glob("values-*.yaml"))
DOCS_COMMAND = (
    "helm install costobs deploy/helm/costobs -f deploy/k8s-examples/values-small.yaml "
    "--namespace costobs --create-namespace"
)
# The oldest and newest Kubernetes the chart is validated for (policy/v1, autoscaling/v2).
KUBE_VERSIONS = ("1.27.0", "1.37.0")
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}  # not in the Kubernetes schemas
# The chart is rendered by the helm binary (`make helm`), a process per render: not the fast tier.
pytestmark = pytest.mark.slow


def _helm() -> str:
    local = ROOT / ".tools" / "bin" / "helm"
    found = str(local) if local.exists() else shutil.which("helm")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("helm is missing in CI: .ci/run must run `make helm` first")
    pytest.skip("helm is not installed: `make helm` builds it into .tools/bin")


class _UniqueKeys(yaml.SafeLoader):
    """Rejects a mapping with a repeated key (the API server would keep only one)."""


def _mapping(loader: _UniqueKeys, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k) for k, _ in node.value]
    repeated = {k for k in keys if keys.count(k) > 1}
    if repeated:
        raise AssertionError(f"repeated keys {repeated} at {node.start_mark}")
    return loader.construct_mapping(node)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


@cache
def _render(values: Path | None, *sets: str, kube: str = KUBE_VERSIONS[-1]) -> list[Any]:
    args = [_helm(), "template", "costobs", str(CHART), "--namespace", "costobs"]
    args += ["--kube-version", kube]
    if values:
        args += ["-f", str(values)]
    for s in sets:
        args += ["--set", s]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.load_all(done.stdout, Loader=_UniqueKeys) if d]


def _objects(values: Path | None, *sets: str) -> dict[tuple[str, str], Any]:
    return {(d["kind"], d["metadata"]["name"]): d for d in _render(values, *sets)}


def _containers(obj: Any) -> list[Any]:
    return list(obj["spec"]["template"]["spec"]["containers"])


def _env(container: Any) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_helm_lint_passes_for_the_defaults_and_every_example() -> None:
    assert EXAMPLES and {p.name for p in EXAMPLES} == {"values-small.yaml", "values-ha.yaml"}
    for values in [None, *EXAMPLES]:
        args = [_helm(), "lint", "--strict", str(CHART)] + (["-f", str(values)] if values else [])
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("values", [None, *EXAMPLES], ids=lambda v: v.name if v else "defaults")
def test_every_rendered_object_is_valid_kubernetes(values: Path | None, kube: str) -> None:
    objects = _render(values, kube=kube)
    assert len(objects) >= 10
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CRDS:
            assert obj["spec"]["endpoints"] and obj["spec"]["selector"]
            continue
        kubernetes_validate.validate(obj, kube, strict=True)


def test_the_schema_check_rejects_a_wrong_object() -> None:
    deployment = next(o for o in _render(EXAMPLES[0]) if o["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = [1]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[-1], strict=True)


def test_the_docs_install_command_names_this_chart_and_example() -> None:
    docs = (ROOT / "docs" / "self-hosting.md").read_text()
    assert DOCS_COMMAND in docs.replace("\\\n  ", "")
    assert "](docs/self-hosting.md)" in (ROOT / "README.md").read_text()


def test_roles_run_real_commands_with_real_settings_safely() -> None:
    settings = {f"COSTOBS_{name.upper()}" for name in Settings.model_fields}
    commands = _subcommands()
    small = _objects(EXAMPLES[-1])  # values-small.yaml (sorted: ha, small)
    workloads = [o for o in small.values() if o["kind"] in {"Deployment", "Job"}]
    roles = set()
    for obj in workloads:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for c in _containers(obj):
            roles.add(c["args"][0])
            assert c["args"][0] in commands, c["args"]
            assert set(_env(c)) <= settings, set(_env(c)) - settings
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["resources"]["requests"] and c["resources"]["limits"]
            assert c["envFrom"] == [{"secretRef": {"name": "costobs-secrets"}}]
            role = c["args"][0]
            if role in ROLE_PORTS:
                setting, path = ROLE_PORTS[role]
                port = int(_env(c)[f"COSTOBS_{setting.upper()}"])
                assert c["ports"][0]["containerPort"] == port
                for probe in ("readinessProbe", "livenessProbe"):
                    assert c[probe]["httpGet"] == {"path": path, "port": "http"}
    assert roles == {"migrate", "ingest", "writer", "alertd", "dashboard"}  # billsyncd: off
    assert not [o for o in small.values() if o["kind"] == "Secret"]  # secrets by reference


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook() -> None:
    job = _objects(EXAMPLES[-1])[("Job", "costobs-migrate")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert _containers(job)[0]["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_ingest_scales_by_hpa_and_every_role_has_a_disruption_budget() -> None:
    small = _objects(EXAMPLES[-1])
    hpa = small[("HorizontalPodAutoscaler", "costobs-ingest")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "costobs-ingest"
    assert "replicas" not in small[("Deployment", "costobs-ingest")]["spec"]  # the HPA's
    deployments = {n for k, n in small if k == "Deployment"}
    assert deployments == {f"costobs-{r}" for r in ("ingest", "writer", "alertd", "dashboard")}
    assert deployments == {n for k, n in small if k == "PodDisruptionBudget"}
    for name in deployments:
        assert small[("Deployment", name)]["spec"].get("replicas", 1) == 1


def test_billsyncd_is_off_without_keys_and_alone_reaches_the_internet() -> None:
    on = _objects(EXAMPLES[-1], "billsyncd.enabled=true")
    assert ("Deployment", "costobs-billsyncd") in on
    assert ("Deployment", "costobs-billsyncd") not in _objects(EXAMPLES[-1])
    policies = [o for o in on.values() if o["kind"] == "NetworkPolicy"]
    internet = [
        p
        for p in policies
        if any(
            peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
            for rule in p["spec"]["egress"]
            for peer in rule.get("to", [])
        )
    ]
    assert [
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in internet
    ] == ["billsyncd"]
    internal = next(p for p in policies if p not in internet)
    assert internal["spec"]["policyTypes"] == ["Egress"]
    assert "app.kubernetes.io/component" not in internal["spec"]["podSelector"]["matchLabels"]


def test_ha_example_runs_r3_nats_a_clickhouse_cluster_and_three_ingests() -> None:
    ha = _objects(EXAMPLES[0])
    assert ha[("HorizontalPodAutoscaler", "costobs-ingest")]["spec"]["minReplicas"] == 3
    nats = ha[("StatefulSet", "costobs-nats")]
    assert nats["spec"]["replicas"] == 3
    conf = ha[("ConfigMap", "costobs-nats")]["data"]["nats.conf"]
    assert conf.count(".costobs-nats-headless.costobs.svc:6222") == 3 and "jetstream" in conf
    env = _env(_containers(ha[("Deployment", "costobs-ingest")])[0])
    assert env["COSTOBS_NATS_STREAM_REPLICAS"] == "3"
    assert len(env["COSTOBS_NATS_URL"].split(",")) == 3
    assert env["COSTOBS_CLICKHOUSE_CLUSTER"] == "costobs_cluster"
    writer = _env(_containers(ha[("Deployment", "costobs-writer")])[0])
    assert writer["COSTOBS_WRITER_ID"] == "writer" and writer["COSTOBS_WRITER_PROCESSES"] == "2"
    ingress = ha[("Ingress", "costobs")]
    assert ingress["spec"]["tls"][0]["secretName"] == "costobs-tls"
    assert ("ServiceMonitor", "costobs") in ha


def test_extra_writers_get_own_ids_and_leave_compaction_to_the_first() -> None:
    two = _objects(EXAMPLES[-1], "writer.ids={writer,writer_b}")
    first, second = (
        _env(_containers(two[("Deployment", name)])[0])
        for name in ("costobs-writer", "costobs-writer-b")
    )
    assert (first["COSTOBS_WRITER_ID"], second["COSTOBS_WRITER_ID"]) == ("writer", "writer_b")
    assert "COSTOBS_COMPACT_INTERVAL_S" not in first
    assert second["COSTOBS_COMPACT_INTERVAL_S"] == "0"


def test_oidc_secret_is_mounted_as_the_dashboards_streamlit_secrets() -> None:
    plain = _objects(EXAMPLES[-1])[("Deployment", "costobs-dashboard")]
    assert len(plain["spec"]["template"]["spec"]["volumes"]) == 2  # /tmp and home only
    oidc = _objects(EXAMPLES[-1], "dashboard.oidcSecret=costobs-oidc")
    pod = oidc[("Deployment", "costobs-dashboard")]["spec"]["template"]["spec"]
    assert {"name": "oidc", "secret": {"secretName": "costobs-oidc"}} in pod["volumes"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "oidc")
    assert mount["mountPath"] == "/var/lib/costobs/.streamlit/secrets.toml"
    assert mount["subPath"] == "secrets.toml" and mount["readOnly"] is True
    for obj in oidc.values():
        if (obj["apiVersion"], obj["kind"]) not in CRDS:
            kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)


def test_each_role_connects_to_nats_as_its_own_user() -> None:
    small = _objects(EXAMPLES[-1], "billsyncd.enabled=true")  # sets nats.auth.existingSecret
    users = {}
    for (kind, _), obj in small.items():
        if kind not in {"Deployment", "Job"}:
            continue
        container = _containers(obj)[0]
        env = {e["name"]: e for e in container["env"]}
        if "COSTOBS_NATS_USER" in env:
            ref = env["COSTOBS_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "costobs-nats", "key": env["COSTOBS_NATS_USER"]["value"]}
            users[container["args"][0]] = env["COSTOBS_NATS_USER"]["value"]
    # the same users as nats/nats-server.conf; migrate and the dashboard use no NATS
    assert users == {r: r for r in ("ingest", "writer", "alertd", "billsyncd")}
    conf = (ROOT / "nats" / "nats-server.conf").read_text()
    assert all(f"user: {u}" in conf for u in users)
    without = _objects(None)[("Deployment", "costobs-ingest")]
    assert "COSTOBS_NATS_USER" not in _env(_containers(without)[0])


def test_bad_values_fail_with_a_clear_message() -> None:
    for setting, message in (
        ("writer.ids={Bad-Id}", "must match"),
        ("nats.deploy.enabled=true,nats.deploy.replicas=2", "at least 3 nodes"),
    ):
        args = [_helm(), "template", "costobs", str(CHART), "--set", setting]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and message in done.stderr, done.stderr


def _nats_conf(objects: dict[tuple[str, str], Any]) -> str:
    conf: str = objects[("ConfigMap", "costobs-nats")]["data"]["nats.conf"]
    return conf


def test_the_charts_nats_has_the_per_role_users_from_the_existing_secret() -> None:
    """The chart's NATS gets server mode's users and permissions (the block nats_auth.py
    generates), each password from the roles' Secret, and each role connects as its user."""
    ha = _objects(EXAMPLES[0])
    conf = _nats_conf(ha)
    block = server_mode_authorization()
    assert textwrap.dedent(conf[conf.index("authorization {") :]).strip() == block.strip()
    nats = _containers(ha[("StatefulSet", "costobs-nats")])[0]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in nats["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    roles = (*ROLES, ADMIN)
    assert refs == {password_variable(r): {"name": "costobs-nats", "key": r} for r in roles}
    assert all(f"${password_variable(r)}" in conf for r in roles)
    for role in ROLES:
        deployments = [o for o in ha.values() if o["kind"] == "Deployment"]
        envs = [
            {e["name"]: e for e in _containers(o)[0]["env"]}
            for o in deployments
            if _containers(o)[0]["args"] == [role]
        ]
        for env in envs:  # billsyncd is off in this example
            assert env["COSTOBS_NATS_USER"]["value"] == role
            ref = env["COSTOBS_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref == refs[password_variable(role)]
    # a changed user list restarts the NATS pods (the config's checksum changes with it)
    plain = _objects(EXAMPLES[0], "nats.auth.existingSecret=")
    assert "authorization" not in _nats_conf(plain)
    assert "env" not in _containers(plain[("StatefulSet", "costobs-nats")])[0] or not any(
        "secretKeyRef" in e.get("valueFrom", {})
        for e in _containers(plain[("StatefulSet", "costobs-nats")])[0]["env"]
    )
    annotation = "checksum/config"
    pod_annotations = [
        o[("StatefulSet", "costobs-nats")]["spec"]["template"]["metadata"]["annotations"]
        for o in (ha, plain)
    ]
    assert pod_annotations[0][annotation] != pod_annotations[1][annotation]


@pytest.mark.nats
async def test_the_charts_rendered_nats_config_runs_with_per_role_users(
    tmp_path: Path,
) -> None:
    """The rendered nats.conf, run by a real nats-server (one node: the cluster block and the
    fixed ports moved to loopback): the writer applies the streams, ingest publishes, a wrong
    password is refused."""
    from costobs_server.nats_auth import NatsAuth, connect
    from costobs_server.nats_server import free_port
    from costobs_server.settings import load_settings
    from costobs_server.streams import ensure_streams, events_subject
    from tests.test_nats_auth import _refused, _start_nats

    conf = _nats_conf(_objects(EXAMPLES[0]))
    port, monitor = free_port(), free_port()
    conf = re.sub(r"\ncluster \{.*?\n\}", "", conf, flags=re.S)
    assert "routes" not in conf
    conf = conf.replace("port: 4222", f"listen: 127.0.0.1:{port}")
    conf = conf.replace("http_port: 8222", f"http: 127.0.0.1:{monitor}")
    conf = conf.replace("store_dir: /data", f'store_dir: "{tmp_path}"')
    passwords = {r: uuid.uuid4().hex for r in (*ROLES, ADMIN)}
    env = {password_variable(r): pw for r, pw in passwords.items()}
    proc = _start_nats(tmp_path, conf, port, {**env, "SERVER_NAME": "costobs-nats-0"})
    url = f"nats://127.0.0.1:{port}"
    try:
        await _refused(url, user="ingest", password="wrong")
        writer = await connect(url, NatsAuth(user="writer", password=passwords["writer"]), "writer")
        ingest = await connect(url, NatsAuth(user="ingest", password=passwords["ingest"]), "ingest")
        try:
            await ensure_streams(writer.jetstream(), load_settings(nats_url=url))
            ack = await ingest.jetstream().publish(events_subject("helm"), b"{}")
            assert ack.seq >= 1
        finally:
            await writer.close()
            await ingest.close()
    finally:
        proc.terminate()
        proc.wait(10)
