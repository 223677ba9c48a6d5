"""``make up`` / ``make down``: Kafka plus the four services on SQLite, in the background.

State lives under var/: Kafka in var/kafka, databases var/<service>.db, logs in
var/log, process ids in var/run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from local_kafka import KafkaBroker, create_topics

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"
SERVICES = {  # name: (module, env prefix, port)
    "overdue-detector": ("overdue_detector.main", "DETECTOR", 8101),
    "case-router": ("case_router.main", "ROUTER", 8102),
    "notifier": ("notifier.main", "NOTIFIER", 8103),
    "agency-gateway": ("agency_gateway.main", "GATEWAY", 8104),
}
KAFKA_PORT = int(os.environ.get("CC_KAFKA_PORT", "9092"))


def _pid(name: str) -> int | None:
    try:
        pid = int((VAR / "run" / f"{name}.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def dev_jwt_secret() -> str:
    """The HS256 secret every local service verifies bearer tokens with (made once, kept in var/)."""
    path = VAR / "dev-jwt-secret"
    if not path.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def up() -> None:
    secret = dev_jwt_secret()
    broker = KafkaBroker(VAR / "kafka", KAFKA_PORT)
    broker.start()
    broker.wait_ready()
    create_topics(broker.bootstrap)
    (VAR / "run").mkdir(parents=True, exist_ok=True)
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    for name, (module, prefix, port) in SERVICES.items():
        if _pid(name):
            continue
        env = {**os.environ, f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
               f"{prefix}_DATABASE_URL": f"sqlite:///{VAR / name}.db", f"{prefix}_HTTP_PORT": str(port),
               f"{prefix}_AUTH_JWT_SECRET": secret}
        with open(VAR / "log" / f"{name}.log", "a") as log:
            process = subprocess.Popen([sys.executable, "-m", module], env=env, cwd=ROOT, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        (VAR / "run" / f"{name}.pid").write_text(str(process.pid))
    deadline = time.monotonic() + 60
    pending = dict(SERVICES)
    while pending and time.monotonic() < deadline:
        for name, (_, _, port) in list(pending.items()):
            if _ready(port):
                del pending[name]
            elif _pid(name) is None:
                sys.exit(f"{name} exited during start-up: see var/log/{name}.log")
        time.sleep(0.5)
    if pending:
        sys.exit(f"not ready after 60 s: {', '.join(pending)} (see var/log/)")
    print(f"Kafka            {broker.bootstrap}")
    for name, (_, _, port) in SERVICES.items():
        print(f"{name:<16} http://127.0.0.1:{port}  (/readyz, /metrics, /docs)")
    print("APIs need a bearer token: CC_AUTH_JWT_SECRET=$(cat var/dev-jwt-secret) "
          ".venv/bin/cc-token --role operations --subject me")
    print("logs in var/log/; stop with `make down`")


def down() -> None:
    for name in SERVICES:
        pid = _pid(name)
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _pid(name) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _pid(name):
                os.kill(pid, signal.SIGKILL)
            print(f"stopped {name}")
        (VAR / "run" / f"{name}.pid").unlink(missing_ok=True)
    KafkaBroker(VAR / "kafka", KAFKA_PORT).stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    {"up": up, "down": down}[parser.parse_args().command]()
