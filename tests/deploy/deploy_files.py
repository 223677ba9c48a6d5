"""What tests/deploy reads: the deployment files, the tools `make tools` installs, and
the metric names each dashboard panel and alert rule expression refers to."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
SERVICES = {  # name: (module, env prefix, HTTP port)
    "overdue-detector": ("overdue_detector.main", "DETECTOR", 8101),
    "case-router": ("case_router.main", "ROUTER", 8102),
    "notifier": ("notifier.main", "NOTIFIER", 8103),
    "agency-gateway": ("agency_gateway.main", "GATEWAY", 8104),
}
# Series Prometheus makes itself for every target, not exported by a service.
SCRAPE_SERIES = {"up"}


def tool(name: str) -> str:
    """A command `make tools` installs: project-local ones first, then the system's."""
    local = ROOT / ".tools" / "bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    assert found, f"{name} is missing: run `make tools`"
    return found


def run(*argv: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=ROOT, timeout=120)


def topics() -> list[dict]:
    return yaml.safe_load((DEPLOY / "topics.yaml").read_text())["topics"]


@dataclass(frozen=True)
class Expression:
    where: str  # "sre.json: HTTP 5xx ratio" or "rules: ServiceDown"
    promql: str


def dashboard_expressions() -> list[Expression]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append(Expression(f"{path.name}: {panel['title']}", target["expr"]))
    return found


def rule_expressions() -> list[Expression]:
    return [Expression(f"{path.name}: {rule.get('alert') or rule.get('record')}", rule["expr"])
            for path in RULES for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def with_grafana_variables(promql: str) -> str:
    """A panel's query as Grafana sends it with every service selected."""
    return promql.replace("$__rate_interval", "1m").replace("$service", ".+")


_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
             "offset", "inf", "nan"}


def metric_names(promql: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers left once strings, label
    matchers, ranges and grouping clauses are removed, except functions and keywords."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', promql)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:$])[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        if text[match.end():].lstrip().startswith("(") or match.group().lower() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def exported_names(exposition: str) -> set[str]:
    """Every series name a /metrics page declares, including label sets not yet seen:
    a counter with no increment so far has its # TYPE line and no sample."""
    names = set()
    suffixes = {"counter": ("", "_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created"), "gauge": ("",)}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            base = name.removesuffix("_total") if kind == "counter" else name
            names.update(base + suffix for suffix in suffixes.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
