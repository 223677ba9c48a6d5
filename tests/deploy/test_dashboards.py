"""Grafana dashboards and their provisioning, checked offline (the real scrape test
runs every panel's query against the running services)."""

import json

import yaml
from deploy_files import DASHBOARDS, DEPLOY, dashboard_expressions, rule_expressions

PROVISIONING = DEPLOY / "grafana" / "provisioning"


def test_panels_use_the_provisioned_datasource_and_have_unique_ids():
    [datasource] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids
        uids.add(dashboard["uid"])
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["targets"], f"{path.name}: {panel['title']} has no query"
            for source in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
                assert source == {"type": "prometheus", "uid": datasource["uid"]}, panel["title"]


def test_both_dashboards_are_provisioned_from_the_mounted_folder():
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "card-collections.yaml").read_text())["providers"]
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in volumes
    assert {path.stem for path in DASHBOARDS} == {"sre", "business"}


def test_dashboards_cover_what_sres_and_the_business_watch():
    promql = " ".join(e.promql for e in dashboard_expressions())
    for metric in ["cc_http_requests_total", "cc_http_request_duration_seconds_bucket", "cc_consumer_lag",
                   "cc_outbox_backlog", "cc_outbox_oldest_unpublished_seconds", "cc_events_dead_lettered_total", "cc_dependency_up",
                   "cc_handler_duration_seconds_bucket", "cc_database_statement_seconds_bucket", "detector_accounts", "detector_aging_run_duration_seconds_bucket",
                   "gateway_recovered_minor_total", "router_open_cases", "notifier_contacts_total",
                   "notifier_policy_decisions_total", "gateway_placements", 'type="collections.v1.ContactBlocked"']:
        assert metric in promql, metric
    assert len(rule_expressions()) >= 7


def test_database_latency_is_shown_per_service_and_operation_at_p50_and_p99():
    [panel] = [p for p in json.loads((DEPLOY / "grafana" / "dashboards" / "sre.json").read_text())["panels"]
               if "database latency" in p["title"].lower()]
    queries = [target["expr"] for target in panel["targets"]]
    assert [q.split(",")[0] for q in queries] == ["histogram_quantile(0.5", "histogram_quantile(0.99"]
    for query in queries:
        assert "sum by (service, operation, le) (rate(cc_database_statement_seconds_bucket{" in query
