"""The runtime's HTTP contract, on the app ServiceRuntime builds: problems keep their
headers, an unexpected error is a bare 500, the OpenAPI documents the problems."""

from __future__ import annotations

import json

import httpx
import pytest
import structlog
from fastapi import APIRouter, Depends
from prometheus_client import REGISTRY

from collections_core.auth import require_roles
from collections_core.http import PROBLEM_JSON, Problem, problems
from collections_core.logs import configure_logging
from collections_core.service import ServiceRuntime
from collections_core.settings import ServiceSettings

router = APIRouter(prefix="/v1")
PERSONAL = "{'name': 'Wang Xiaoming', 'phone': '+8613912345678', 'email': 'wang.xm@example.cn'}"


@router.get("/things/{thing_id}", responses=problems(404, 409))
async def get_thing(thing_id: int) -> dict:
    if thing_id == 404:
        raise Problem(404, "Thing not found", f"no thing {thing_id}")
    return {"thing_id": thing_id}


@router.get("/busy")
async def busy() -> dict:
    raise Problem(429, "Too many requests", "slow down", headers={"Retry-After": "30"})


@router.get("/guarded", dependencies=[Depends(require_roles("operations"))])
async def guarded() -> dict:
    return {"guarded": True}


@router.get("/broken")
async def broken() -> dict:
    raise RuntimeError(f"could not save {PERSONAL}")


def app(tmp_path, **settings):
    runtime = ServiceRuntime(ServiceSettings(service_name="http-probe", database_url=f"sqlite:///{tmp_path}/p.db",
                                             **settings), topics=(), handlers={}, migrations=tmp_path)
    return runtime.app("http-probe", [router])


def client(application) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://probe")


def served_500s() -> float:
    labels = {"service": "http-probe", "method": "GET", "route": "/v1/broken", "status": "500"}
    return REGISTRY.get_sample_value("cc_http_requests_total", labels) or 0.0


async def test_an_unexpected_error_is_a_bare_500_problem_counted_and_logged_masked(tmp_path, capsys):
    configure_logging("http-probe")
    before = served_500s()
    try:
        async with client(app(tmp_path)) as http:
            response = await http.get("/v1/broken")
    finally:
        # configure_logging bound pytest's capture stream; later tests must not write to it.
        structlog.reset_defaults()
    assert response.status_code == 500 and response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                               "detail": "the request could not be completed", "instance": "/v1/broken"}
    assert served_500s() == before + 1
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "unhandled error in request" and line["error"] == "RuntimeError"
    assert "could not save" in line["exception"] and "[redacted]" in line["exception"]
    assert "Wang" not in line["exception"] and "13912345678" not in line["exception"]


async def test_requests_are_counted_by_route_template_and_status(tmp_path):
    def served(route: str, status: str) -> float:
        labels = {"service": "http-probe", "method": "GET", "route": route, "status": status}
        return REGISTRY.get_sample_value("cc_http_requests_total", labels) or 0.0

    before = {key: served(*key) for key in [("/v1/things/{thing_id}", "422"), ("unmatched", "404")]}
    async with client(app(tmp_path)) as http:
        assert (await http.get("/v1/things/not-a-number")).status_code == 422
        assert (await http.get("/v1/no-such-thing")).status_code == 404
    assert {key: served(*key) - count for key, count in before.items()} == {
        ("/v1/things/{thing_id}", "422"): 1, ("unmatched", "404"): 1}


@pytest.mark.parametrize(("method", "path", "status", "header", "value"), [
    ("POST", "/v1/busy", 405, "allow", "GET"),
    ("GET", "/v1/busy", 429, "retry-after", "30"),
    ("GET", "/v1/guarded", 401, "www-authenticate", 'Bearer realm="card-collections"'),
])
async def test_problems_keep_their_headers(tmp_path, method, path, status, header, value):
    async with client(app(tmp_path)) as http:
        response = await http.request(method, path)
    assert response.status_code == status and response.headers["content-type"] == PROBLEM_JSON
    assert response.headers[header] == value and response.json()["status"] == status


async def test_the_openapi_documents_each_operations_problems(tmp_path):
    async with client(app(tmp_path)) as http:
        document = (await http.get("/openapi.json")).json()
    thing = document["paths"]["/v1/things/{thing_id}"]["get"]["responses"]
    assert set(thing) == {"200", "404", "409", "422", "500"}
    for status in ("404", "409", "422", "500"):
        assert thing[status]["content"] == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert set(document["paths"]["/v1/guarded"]["get"]["responses"]) == {"200", "401", "403", "422", "500"}
    assert set(document["paths"]["/v1/busy"]["get"]["responses"]) == {"200", "422", "500"}
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and schemas["Problem"]["required"][:3] == ["type", "title", "status"]
    invalid = await client(app(tmp_path)).get("/v1/things/not-a-number")
    assert invalid.status_code == 422 and invalid.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize(("enabled", "docs_status"), [(True, 200), (False, 404)])
async def test_docs_can_be_turned_off_but_the_openapi_stays(tmp_path, enabled, docs_status):
    async with client(app(tmp_path, docs_enabled=enabled)) as http:
        assert (await http.get("/docs")).status_code == docs_status
        assert (await http.get("/redoc")).status_code == docs_status
        assert (await http.get("/openapi.json")).status_code == 200


async def test_metrics_render_only_the_series_asked_for_by_name(tmp_path):
    async with client(app(tmp_path)) as http:
        await http.get("/v1/things/1")
        whole = (await http.get("/metrics")).text
        asked = await http.get("/metrics", params=[("name[]", "cc_http_requests_total"), ("name[]", "no_such")])
    assert asked.status_code == 200

    def series(text: str) -> set[str]:
        return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}

    assert series(asked.text) == {"cc_http_requests_total"}
    assert 'route="/v1/things/{thing_id}"' in asked.text
    assert {"cc_http_request_duration_seconds_count", "process_cpu_seconds_total"} <= series(whole)
