"""Every overlay of deploy/k8s rendered with kustomize and validated: Kubernetes kinds
against the Kubernetes schemas (kubernetes-validate, strict), Strimzi and Prometheus-operator
kinds against their CRDs' schemas (deploy/schemas, from github.com/datreeio/CRDs-catalog),
then the references between the objects that no schema sees."""

import copy
import importlib
import json
import re
from collections import defaultdict
from functools import cache

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_files import DEPLOY, ROOT, SERVICES, run, tool, topics

KUBERNETES_VERSION = "1.33"
CRD_SCHEMAS = {("kafka.strimzi.io/v1", "KafkaTopic"): "kafkatopic_v1.json",
               ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule_v1.json",
               ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor_v1.json"}
OVERLAYS = ["dev", "prod"]
SETTINGS = {"overdue-detector": "overdue_detector.settings:DetectorSettings",
            "case-router": "case_router.settings:RouterSettings", "notifier": "notifier.settings:NotifierSettings",
            "agency-gateway": "agency_gateway.settings:GatewaySettings"}


@cache
def render(overlay: str) -> list[dict]:
    result = run(tool("kustomize"), "build", DEPLOY / "k8s" / "overlays" / overlay)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def of_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def validate(document: dict) -> None:
    schema = CRD_SCHEMAS.get((document["apiVersion"], document["kind"]))
    if schema:
        jsonschema.Draft7Validator(json.loads((DEPLOY / "schemas" / schema).read_text())).validate(document)
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_every_object_matches_its_schema(rendered):
    _, documents = rendered
    for document in documents:
        validate(document)
    assert {d["kind"] for d in documents} >= {"Deployment", "Service", "ServiceAccount", "ConfigMap",
                                              "PodDisruptionBudget", "NetworkPolicy", "KafkaTopic",
                                              "ServiceMonitor", "PrometheusRule"}


@pytest.mark.parametrize(("kind", "path", "value"), [
    ("Deployment", ("spec", "template", "spec", "containers", 0, "readinessProbe", "httpGett"), {}),
    ("KafkaTopic", ("spec", "partition"), 6),
    ("ServiceMonitor", ("spec", "endpoint"), []),
])
def test_the_validation_rejects_a_misspelt_field(kind, path, value):
    broken = copy.deepcopy(next(d for d in render("dev") if d["kind"] == kind))
    target = broken
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        validate(broken)


def test_the_generated_topics_and_rules_are_fresh_and_complete(rendered):
    overlay, documents = rendered
    assert run(ROOT / ".venv" / "bin" / "python", DEPLOY / "generate.py", "--check").returncode == 0
    kafka_topics = of_kind(documents, "KafkaTopic")
    assert {t["spec"]["topicName"]: t["spec"]["partitions"] for t in kafka_topics.values()} == {
        t["name"]: t["partitions"] for t in topics()}
    expected = (3, 2) if overlay == "prod" else (1, None)
    for topic in kafka_topics.values():
        assert (topic["spec"]["replicas"], topic["spec"]["config"].get("min.insync.replicas")) == expected
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "collections"
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "card-collections.rules.yml").read_text())
    assert of_kind(documents, "PrometheusRule")["card-collections"]["spec"]["groups"] == rules["groups"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_deployment_is_probed_limited_and_locked_down(rendered, service):
    overlay, documents = rendered
    _, prefix, port = SERVICES[service]
    deployment = of_kind(documents, "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert pod["serviceAccountName"] == service and service in of_kind(documents, "ServiceAccount")
    assert container["image"] == f"card-collections/{service}:0.1.0"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert of_kind(documents, "Service")[service]["spec"]["selector"].items() <= labels.items()
    assert of_kind(documents, "PodDisruptionBudget")[service]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    if overlay == "prod":
        hpa = of_kind(documents, "HorizontalPodAutoscaler")[service]["spec"]
        assert hpa["scaleTargetRef"]["name"] == service and hpa["maxReplicas"] <= 6, "no more replicas than partitions"


@pytest.mark.parametrize("service", SERVICES)
def test_settings_and_secrets_are_real_and_secrets_only_referenced(rendered, service):
    overlay, documents = rendered
    _, prefix, _ = SERVICES[service]
    module, cls = SETTINGS[service].split(":")
    fields = getattr(importlib.import_module(module), cls).model_fields
    [container] = of_kind(documents, "Deployment")[service]["spec"]["template"]["spec"]["containers"]
    [config_ref] = [source["configMapRef"]["name"] for source in container["envFrom"]]
    config = of_kind(documents, "ConfigMap")[config_ref]["data"]
    names = list(config) + [variable["name"] for variable in container["env"]]
    for name in names:
        assert name.startswith(f"{prefix}_") and name.removeprefix(f"{prefix}_").lower() in fields, name
    assert config[f"{prefix}_KAFKA_BOOTSTRAP_SERVERS"] == "collections-kafka-bootstrap:9092"
    secrets = of_kind(documents, "Secret")
    for variable in container["env"]:
        reference = variable["valueFrom"]["secretKeyRef"]
        if overlay == "dev":
            assert reference["name"] in secrets, f"{reference['name']} is generated in dev"
        else:
            assert not secrets, "prod only references Secrets that exist in the cluster"
            assert re.sub(r"-[a-z0-9]{10}$", "", reference["name"]) == reference["name"]
    if overlay == "prod":
        assert config[f"{prefix}_AUTH_JWKS_URL"].startswith("https://")


def test_the_service_monitor_scrapes_every_service_by_its_port_name(rendered):
    _, documents = rendered
    [monitor] = of_kind(documents, "ServiceMonitor").values()
    selected = [name for name, service in of_kind(documents, "Service").items()
                if monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()]
    assert sorted(selected) == sorted(SERVICES)
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    for name in selected:
        ports = [p["name"] for p in of_kind(documents, "Service")[name]["spec"]["ports"]]
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http"] and "http" in ports


def test_network_policies_allow_only_the_designed_flows(rendered):
    overlay, documents = rendered
    policies = of_kind(documents, "NetworkPolicy").values()
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in of_kind(documents, "Deployment").items()}

    def selects(policy, service):
        return policy["spec"]["podSelector"]["matchLabels"].items() <= labels[service].items()

    ingress_from_pods, egress_ports = defaultdict(set), defaultdict(set)
    for service in SERVICES:
        applying = [p for p in policies if selects(p, service)]
        assert {"Ingress", "Egress"} <= {t for p in applying for t in p["spec"]["policyTypes"]}, "default deny"
        for policy in applying:
            for rule in policy["spec"].get("ingress", []):
                for peer in rule["from"]:
                    if "namespaceSelector" not in peer and "podSelector" in peer:
                        ingress_from_pods[service].add(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
            for rule in policy["spec"].get("egress", []):
                egress_ports[service] |= {p["port"] for p in rule["ports"]}
    assert dict(ingress_from_pods) == {"notifier": {"agency-gateway"}}, "the only service-to-service call"
    base = {53, 9092, 5432} | ({443} if overlay == "prod" else set())
    assert egress_ports == {"overdue-detector": base, "case-router": base, "notifier": base | {443},
                            "agency-gateway": base | {443, 8103}}
