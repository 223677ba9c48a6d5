"""HTTP pieces every service shares: RFC 9457 problem responses, health, metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from collections_core import metrics
from collections_core.logs import get_logger

PROBLEM_JSON = "application/problem+json"
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
        return problem_response(error.status_code, str(error.detail), str(error.detail), request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception):
        log.error("unhandled error in request", path=request.url.path, error=type(error).__name__)
        return problem_response(503, "Service unavailable", "the request could not be completed; retry later",
                                request.url.path)


def install_observability(app: FastAPI, service: str, readiness: Callable[[], Awaitable[dict[str, bool]]]) -> None:
    @app.middleware("http")
    async def _measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.HTTP_REQUESTS.labels(service, request.method, path, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(service, request.method, path).observe(time.perf_counter() - started)
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
