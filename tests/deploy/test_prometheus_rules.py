"""Alert rules checked and unit-tested by promtool, each with its runbook."""

import re

import yaml
from deploy_files import DEPLOY, ROOT, RULES, run, tool

ALERTS = [rule for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
          for rule in group["rules"] if "alert" in rule]


def test_promtool_checks_the_rules_and_the_config(tmp_path):
    checked = run(tool("promtool"), "check", "rules", *RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The compose config names the rules where the container mounts them; check it with the repo's.
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert "/etc/prometheus/rules/*.yml" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/rules", str(DEPLOY / "prometheus" / "rules")))
    checked = run(tool("promtool"), "check", "config", tmp_path / "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_rule_unit_tests_pass_and_cover_every_alert():
    files = sorted((ROOT / "tests" / "deploy" / "prometheus").glob("*.test.yml"))
    result = run(tool("promtool"), "test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {case["alertname"] for path in files for test in yaml.safe_load(path.read_text())["tests"]
              for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert tested == {alert["alert"] for alert in ALERTS}, "every alert has a unit test in which it fires"


def test_every_alert_has_a_severity_and_a_runbook_paragraph():
    operations = (ROOT / "docs" / "operations.md").read_text()
    headings = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                for line in operations.splitlines() if line.startswith("#")}
    for alert in ALERTS:
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        anchor = alert["annotations"]["runbook_url"].removeprefix("docs/operations.md#")
        assert anchor == alert["alert"].lower() and anchor in headings, f"runbook for {alert['alert']}"
