"""The entrypoint of the one image every Python service is built from.

The image is built for one service (``--build-arg SERVICE=<folder under services/>``)
and this launcher maps that name to the service's module and environment prefix:
it makes the HTTP server listen on every interface (a container's port is only
reachable that way) unless ``<PREFIX>_HTTP_HOST`` says otherwise, then runs the
service. ``--healthcheck`` asks the service's /healthz, on ``<PREFIX>_HTTP_PORT``
or its default port; ``--check`` fails the build for a service it does not know.
Standard library only: it runs before, and beside, the service's own packages.
"""

from __future__ import annotations

import importlib
import os
import sys
import urllib.request
from typing import NamedTuple


class Service(NamedTuple):
    module: str  # has run(), the service's console-script target
    env_prefix: str
    http_port: int


SERVICES = {
    "overdue-detector": Service("overdue_detector.main", "DETECTOR", 8101),
    "case-router": Service("case_router.main", "ROUTER", 8102),
    "notifier": Service("notifier.main", "NOTIFIER", 8103),
    "agency-gateway": Service("agency_gateway.main", "GATEWAY", 8104),
    "console": Service("collections_console.main", "CONSOLE", 8105),
}


def built_for(environ: dict[str, str]) -> Service:
    name = environ.get("CC_SERVICE", "")
    if name not in SERVICES:
        raise SystemExit(f"CC_SERVICE={name!r} is not one of: {', '.join(SERVICES)}")
    return SERVICES[name]


def healthz_url(service: Service, environ: dict[str, str]) -> str:
    port = environ.get(f"{service.env_prefix}_HTTP_PORT") or service.http_port
    return f"http://127.0.0.1:{port}/healthz"


def main(argv: list[str], environ: dict[str, str]) -> None:
    service = built_for(environ)
    if argv == ["--check"]:
        return
    if argv == ["--healthcheck"]:
        urllib.request.urlopen(healthz_url(service, environ), timeout=2)
        return
    environ.setdefault(f"{service.env_prefix}_HTTP_HOST", "0.0.0.0")
    importlib.import_module(service.module).run()


if __name__ == "__main__":
    main(sys.argv[1:], os.environ)
