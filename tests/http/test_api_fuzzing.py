"""Every service's HTTP API fuzzed by schemathesis against its own OpenAPI.

Each service runs as its own OS process (real broker, its own SQLite database) with
a token secret; requests carry a bearer token with the roles its operations need.
Schemathesis generates valid and invalid requests for every documented operation
and runs all its checks on every response — no 5xx, the status is documented for
the operation, the body matches its schema, the content type is the documented
one — plus ours: every error is an RFC 9457 problem.

Add a service to ``SERVICES`` (module, environment prefix, token roles, the path
prefixes a bank-staff token may reach — empty for all) and its API is fuzzed too. The
gateway's partner side takes partner tokens that the gateway itself issues: its own
fuzz test (services/agency-gateway/tests/api/test_gateway_openapi_fuzz.py) covers it. ``MAX_EXAMPLES`` bounds the run: examples per operation and mode.
"""

from __future__ import annotations

import sys
import uuid

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from support import ServiceProcess, free_port

from collections_core.auth import mint_token
from collections_core.http import PROBLEM_JSON

pytestmark = pytest.mark.integration

SERVICES = [
    ("overdue_detector.main", "DETECTOR", ("operations",), ()),
    ("case_router.main", "ROUTER", ("agent", "supervisor"), ()),
    ("notifier.main", "NOTIFIER", ("agent", "supervisor", "compliance"), ()),
    ("agency_gateway.main", "GATEWAY", ("operations", "compliance"), ("/v1/admin/", "/v1/audit/")),
]
MAX_EXAMPLES = 25
SECRET = "schemathesis-" + uuid.uuid4().hex


def errors_are_problems(ctx, response, case) -> None:
    """A 4xx or 5xx answers with an RFC 9457 problem document."""
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type == PROBLEM_JSON, f"{response.status_code} answered as {content_type!r}"
        body = response.json()
        assert body["status"] == response.status_code and body["title"], body


@pytest.fixture(params=SERVICES, ids=[module.split(".")[0] for module, _, _, _ in SERVICES])
def service(request, kafka, tmp_path):
    module, prefix, roles, paths = request.param
    run = uuid.uuid4().hex[:8]
    name = module.split(".")[0]
    env = {f"{prefix}_DATABASE_URL": f"sqlite:///{tmp_path / name}.db",
           f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, f"{prefix}_HTTP_PORT": str(free_port()),
           f"{prefix}_CONSUMER_GROUP": f"fuzz-{name}-{run}", f"{prefix}_AUTH_JWT_SECRET": SECRET}
    process = ServiceProcess([sys.executable, "-m", module], env, tmp_path / f"{name}.log",
                             http_port=int(env[f"{prefix}_HTTP_PORT"])).start()
    try:
        process.wait_healthy()
        yield process, roles, paths
    finally:
        process.stop()


def test_every_operation_survives_fuzzing(service):
    process, roles, paths = service
    token = mint_token(SECRET, subject="schemathesis", roles=roles, ttl_seconds=3600)
    authorization = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{process.url}/openapi.json")
    # The harness sends the token itself, so a case that "leaves the token out" would
    # still carry it; and unknown query parameters are ignored, as HTTP APIs do.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [o for o in operations if not paths or o.path.startswith(paths)]
    assert operations, "nothing to fuzz"
    for operation in operations:
        statuses = fuzz(operation, GenerationMode.POSITIVE, authorization)
        # Had the token been refused, only the 401/403 path would have been fuzzed.
        assert statuses - {401, 403}, f"{operation.label}: the token was never accepted ({statuses})"
        if takes_input(operation):  # without any input there is nothing to make invalid
            try:
                fuzz(operation, GenerationMode.NEGATIVE, authorization)
            except hypothesis.errors.Unsatisfiable:
                pass  # the only invalid input left would be an extra parameter, which is ignored


def takes_input(operation) -> bool:
    return any(len(parameters) for parameters in (operation.path_parameters, operation.query, operation.headers,
                                                  operation.cookies, operation.body))


def fuzz(operation, mode: GenerationMode, authorization: dict[str, str]) -> set[int]:
    """The statuses the operation answered."""
    statuses = set()

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def calls(case) -> None:
        response = case.call_and_validate(headers=authorization, additional_checks=[errors_are_problems], timeout=30)
        statuses.add(response.status_code)

    calls()
    return statuses
