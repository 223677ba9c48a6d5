"""HTTP pieces every service shares: RFC 9457 problem responses, their OpenAPI, health, metrics.

Every error a service answers is a problem document (``application/problem+json``)
and keeps the headers HTTP requires with it (``Allow`` on a 405, ``Retry-After`` on
a 429, ``WWW-Authenticate`` on a 401). An error nothing answered is a 500 without
internal detail: the detail goes to the (redacted) log, never to the caller.

The OpenAPI says, per operation, which problems it answers: the runtime adds 422
and 500 to every operation, 400 to every operation that takes a body and 401/403
to every operation that requires a bearer token; a route declares the rest with
``responses=problems(404, 409)``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from collections_core import metrics
from collections_core.logs import get_logger

PROBLEM_JSON = "application/problem+json"
# How long a server keeps an idle keep-alive connection (uvicorn's own default: 5 s).
# Longer than any client of ours keeps one idle (httpx: 5 s), so a client never sends a
# request on a connection the server is closing at that instant: with uvicorn's 5 s such
# a request failed with a ReadError, and the demo stopped on one (decision 0016).
KEEP_ALIVE_SECONDS = 75
# uvicorn's options for every server of the platform; log_config=None: its records go
# through configure_logging's, redaction included.
SERVER_OPTIONS = {"log_config": None, "log_level": "warning", "timeout_keep_alive": KEEP_ALIVE_SECONDS}
log = get_logger(__name__)


class Problem(Exception):
    """Raise from a route to answer with an RFC 9457 problem document."""

    def __init__(self, status: int, title: str, detail: str, type_: str = "about:blank",
                 headers: dict[str, str] | None = None, **extra) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.type, self.extra = status, title, detail, type_, extra
        self.headers = headers or {}


def problem_response(status: int, title: str, detail: str, instance: str, type_: str = "about:blank",
                     headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problems(*statuses: int) -> dict[int | str, dict]:
    """The problem statuses a route answers besides the runtime's defaults, for its
    ``responses=``; the runtime documents each as ``application/problem+json``."""
    return {status: {"description": _phrase(status)} for status in statuses}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


class AnswerUnexpectedErrors:
    """ASGI middleware: an exception no handler answered becomes a 500 problem.

    It is answered here rather than by Starlette's outermost error handler, which
    re-raises after answering: the request metrics would then never count the 500,
    and the server would log the same error a second time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            log.error("unhandled error in request", method=scope["method"], path=scope["path"],
                      error=type(error).__name__, exc_info=error)
            if started:
                raise
            response = problem_response(500, "Internal Server Error",
                                        "the request could not be completed", scope["path"])
            await response(scope, receive, send)


class MeasureRequests:
    """ASGI middleware: counts and times every request by route template and status.
    Plain ASGI, not Starlette's BaseHTTPMiddleware, which cost ~0.3 ms of CPU per
    request (bench/gateway/profile_requests.py): as much as a whole bare endpoint."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: what the client gets when nothing answers

        async def watched(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            # The router sets the matched route on the scope it was given, this one.
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(self.service, method, path, str(status)).inc()
            metrics.HTTP_LATENCY.labels(self.service, method, path).observe(time.perf_counter() - started)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem):
        return problem_response(error.status, error.title, error.detail, request.url.path, error.type,
                                headers=error.headers, **error.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError):
        errors = [{"location": list(e["loc"]), "message": e["msg"]} for e in error.errors()]
        return problem_response(422, "Invalid request", "the request does not match the API contract",
                                request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        return problem_response(error.status_code, _phrase(error.status_code), str(error.detail),
                                request.url.path, headers=error.headers)

    app.add_middleware(AnswerUnexpectedErrors)
    _document_problems(app)


PROBLEM_SCHEMA = {
    "title": "Problem",
    "description": "An RFC 9457 problem document.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "a URI naming the kind of problem; about:blank for plain HTTP"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the path of the request"},
        "errors": {"type": "array", "description": "what is wrong with the request (422)", "items": {
            "type": "object", "required": ["location", "message"],
            "properties": {"location": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                                             {"type": "integer"}]}},
                           "message": {"type": "string"}}}},
    },
    "additionalProperties": True,
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_EVERY_OPERATION = (422, 500)
_AUTHENTICATED_OPERATION = (401, 403)
_OPERATION_WITH_BODY = (400,)  # a body that is not even JSON (bad bytes, bad encoding)
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _document_problems(app: FastAPI) -> None:
    """Make the app's OpenAPI say what its error responses really are."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            _with_problems(generate())
        return app.openapi_schema

    app.openapi = openapi


def _with_problems(schema: dict) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            defaults = (_EVERY_OPERATION + (_AUTHENTICATED_OPERATION if operation.get("security") else ())
                        + (_OPERATION_WITH_BODY if "requestBody" in operation else ()))
            for status in defaults:
                responses.setdefault(str(status), {"description": _phrase(status)})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = _PROBLEM_CONTENT
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's own 422 body is replaced above by the problem the runtime really answers.
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA


def install_observability(app: FastAPI, service: str, readiness: Callable[[], Awaitable[dict[str, bool]]],
                          liveness: Callable[[], str | None] = lambda: None) -> None:
    app.add_middleware(MeasureRequests, service=service)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request):
        dead = liveness()
        if dead is not None:
            return problem_response(503, "Service not alive", f"a supervised task died: {dead}", request.url.path)
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request):
        # Prometheus' own convention: ?name[]=… renders only those series, which costs a
        # fraction of the whole page (the simulator's quiet check looks several times a day).
        names = request.query_params.getlist("name[]")
        registry = REGISTRY.restricted_registry(names) if names else REGISTRY
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
