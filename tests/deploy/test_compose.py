"""docker-compose.yml validated offline: the compose-spec schema (deploy/schemas/compose-spec.json,
from github.com/compose-spec/compose-spec schema/compose-spec.json) and the cross-references
a schema cannot see."""

import copy
import importlib
import json
import re
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from deploy_files import DEPLOY, ROOT, SERVICES, run, topics

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
# The file says draft-07 without the "#" the jsonschema package keys its drafts by.
VALIDATOR = jsonschema.Draft7Validator(json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text()))
SETTINGS = {"overdue-detector": "overdue_detector.settings:DetectorSettings",
            "case-router": "case_router.settings:RouterSettings", "notifier": "notifier.settings:NotifierSettings",
            "agency-gateway": "agency_gateway.settings:GatewaySettings"}


def environment(service: str) -> dict[str, str]:
    return {key: str(value) for key, value in COMPOSE["services"][service].get("environment", {}).items()}


def interpolated(value: str) -> str | None:
    """The value compose would use with no variable set; None when it demands one."""
    if "${" in value and ":?" in value:
        return None
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_the_file_matches_the_compose_specification():
    VALIDATOR.validate(COMPOSE)


def test_the_schema_rejects_a_misspelt_key():
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["notifier"]["enviroment"] = {}
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(broken)


def test_the_compose_topic_script_is_generated_from_topics_yaml():
    result = run(ROOT / ".venv" / "bin" / "python", DEPLOY / "generate.py", "--check")
    assert result.returncode == 0, result.stderr
    script = (DEPLOY / "compose" / "create-topics.sh").read_text()
    assert re.findall(r"--topic (\S+)", script) == [t["name"] for t in topics()]
    topic_service = COMPOSE["services"]["kafka-topics"]
    assert "./deploy/compose/create-topics.sh:/opt/card-collections/create-topics.sh:ro" in topic_service["volumes"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reaches_existing_services_with_its_own_settings(service):
    module, prefix, port = SERVICES[service]
    definition = COMPOSE["services"][service]
    settings_module, settings_class = SETTINGS[service].split(":")
    fields = getattr(importlib.import_module(settings_module), settings_class).model_fields
    env = environment(service)
    for key in env:
        assert key.startswith(f"{prefix}_") and key.removeprefix(f"{prefix}_").lower() in fields, \
            f"{service}: {key} is not a setting (the service would ignore it)"
    for server in env[f"{prefix}_KAFKA_BOOTSTRAP_SERVERS"].split(","):
        host, port_text = server.split(":")
        listeners = environment(host)["KAFKA_ADVERTISED_LISTENERS"]
        assert f"//{host}:{port_text}" in listeners, f"{service}: {server} is not an advertised listener"
    database = urlsplit(env[f"{prefix}_DATABASE_URL"])
    init_sql = (DEPLOY / "compose" / "postgres-init.sql").read_text()
    assert database.hostname in COMPOSE["services"] and database.port == 5432
    assert f"CREATE ROLE {database.username} LOGIN PASSWORD '{database.password}'" in init_sql
    assert f"CREATE DATABASE {database.path.lstrip('/')} OWNER {database.username};" in init_sql
    for value in env.values():
        url = interpolated(value)
        if url and "://" in url:
            assert urlsplit(url).hostname in COMPOSE["services"], f"{service}: {url} names no compose service"
    assert set(definition["depends_on"]) <= set(COMPOSE["services"])
    assert definition["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile", "args": {"SERVICE": service}}
    assert definition["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(definition["healthcheck"]["test"])
    assert definition["read_only"] and definition["cap_drop"] == ["ALL"]


def test_every_database_role_is_used_by_exactly_one_service():
    users = [urlsplit(environment(s)[f"{p}_DATABASE_URL"]).username for s, (_, p, _) in SERVICES.items()]
    roles = re.findall(r"CREATE ROLE (\w+)", (DEPLOY / "compose" / "postgres-init.sql").read_text())
    assert sorted(users) == sorted(roles) and len(set(users)) == len(SERVICES)


def test_topics_the_services_consume_are_declared():
    declared = {t["name"] for t in topics()}
    for service, (module, _, _) in SERVICES.items():
        handlers = importlib.import_module(module.replace(".main", ".handlers"))
        assert set(handlers.TOPICS) <= declared, service
        assert f"{service}.dlq.v1" in declared


def test_published_ports_are_unique_and_local_only():
    published = [port for definition in COMPOSE["services"].values() for port in definition.get("ports", [])]
    host_ports = [port.split(":")[1] for port in published]
    assert all(port.startswith("127.0.0.1:") for port in published), published
    assert len(host_ports) == len(set(host_ports)), published


def test_prometheus_scrapes_each_service_where_compose_runs_it():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    assert targets == {f"{service}:{port}" for service, (_, _, port) in SERVICES.items()}


def test_bind_mounts_exist_in_the_repository():
    for name, definition in COMPOSE["services"].items():
        for volume in definition.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name}: named volume {source}"
