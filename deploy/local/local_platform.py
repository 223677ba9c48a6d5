"""Kafka, the four services, the console and the notifier's stand-ins as background processes:
``make up`` / ``make down``,
and the platform the demo runs against.

State lives under one folder (var/ for ``make up``): Kafka in <var>/kafka, databases
<var>/<service>.db (or one PostgreSQL database per service), logs in <var>/log,
process ids in <var>/run, the stand-ins' delivery logs in <var>/standins.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiokafka.errors import KafkaError
from local_kafka import KafkaBroker, create_topics, evict_members
from local_postgres import LocalPostgres

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"
SERVICES = {  # name: (module, env prefix, port)
    "overdue-detector": ("overdue_detector.main", "DETECTOR", 8101),
    "case-router": ("case_router.main", "ROUTER", 8102),
    "notifier": ("notifier.main", "NOTIFIER", 8103),
    "agency-gateway": ("agency_gateway.main", "GATEWAY", 8104),
    "console": ("collections_console.main", "CONSOLE", 8105),
}
STATELESS = {"console"}  # no database: its sessions are signed cookies
# The outside world the notifier reaches (deploy/local/local_standins.py): one process; make up's ports.
STANDINS = {"sms": 8190, "smtp": 8025, "print": 8191}
KAFKA_PORT = int(os.environ.get("CC_KAFKA_PORT", "9092"))


def _ready(port: int) -> bool:
    return _answers(f"http://127.0.0.1:{port}/readyz")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_kafka_port() -> int:
    """A free port whose next one is free too (the broker's controller listens on port + 1),
    below the kernel's ephemeral range, so no port another process asks for later lands on it."""
    import random

    while True:
        port = random.randrange(20000, 32000)
        try:
            for candidate in (port, port + 1):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # reaped already, or not ours
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class Platform:
    """Kafka and the four services, started in the background and stopped again."""

    def __init__(self, var: Path = VAR, kafka_port: int = KAFKA_PORT, ports: dict[str, int] | None = None,
                 database: str = "sqlite", postgres_port: int = 5442, extra_env: dict[str, str] | None = None,
                 kafka_libs: Path | None = None, broker: KafkaBroker | None = None,
                 standin_ports: dict[str, int] | None = None) -> None:
        if database not in ("sqlite", "postgresql"):
            raise ValueError(f"database must be sqlite or postgresql, not {database!r}")
        self.var = var
        self.ports = {name: port for name, (_, _, port) in SERVICES.items()} | (ports or {})
        # Free ports unless told (make up uses the fixed ones): tests and runs side by side never clash.
        self.standin_ports = standin_ports or {name: _free_port() for name in STANDINS}
        self.database = database
        self.extra_env = extra_env or {}
        # A broker passed in (the tests' session broker) is someone else's to stop.
        self._own_broker = broker is None
        self.broker = broker or KafkaBroker(
            var / "kafka", kafka_port, libs=kafka_libs or Path(os.environ.get("CC_KAFKA_HOME", VAR / "kafka")) / "libs")
        self.postgres = LocalPostgres(var / "postgres", postgres_port) if database == "postgresql" else None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def jwt_secret(self) -> str:
        """The HS256 secret every service of this platform verifies bearer tokens with."""
        return self._secret("dev-jwt-secret")

    def webhook_secret(self) -> str:
        """The HMAC key the stand-in SMS provider signs receipts and replies with."""
        return self._secret("dev-webhook-secret")

    @property
    def standins_log(self) -> Path:
        """Where the stand-ins log every contact that reached the outside world."""
        return self.var / "standins"

    def _secret(self, name: str) -> str:
        path = self.var / name
        if not path.exists():
            self.var.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def _pid(self, name: str) -> int | None:
        try:
            pid = int((self.var / "run" / f"{name}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            # A service this process started and that has exited is a zombie until
            # reaped, and a zombie still answers kill(pid, 0): reap it first.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return None
        except ChildProcessError:
            pass  # started by another process (make up, then make down)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def _database_url(self, name: str) -> str:
        if self.postgres is None:
            return f"sqlite:///{self.var / name}.db"
        database = name.replace("-", "_")
        self.postgres.create_database(database)
        return self.postgres.dsn(database)

    def _console_upstreams(self) -> dict[str, str]:
        return {"CONSOLE_ROUTER_URL": self.url("case-router"), "CONSOLE_NOTIFIER_URL": self.url("notifier"),
                "CONSOLE_GATEWAY_URL": self.url("agency-gateway")}

    def start(self, timeout: float = 90.0) -> None:
        if self._own_broker:
            self.broker.fetch()
            self.broker.start()
            self.broker.wait_ready()
            create_topics(self.broker.bootstrap)
        if self.postgres is not None:
            self.postgres.start()
        (self.var / "run").mkdir(parents=True, exist_ok=True)
        (self.var / "log").mkdir(parents=True, exist_ok=True)
        self._start_standins()
        for name in SERVICES:
            if not self._pid(name):
                self._launch(name)
        deadline = time.monotonic() + timeout
        pending = dict(SERVICES)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                if _ready(self.ports[name]):
                    del pending[name]
                elif self._pid(name) is None:
                    raise RuntimeError(f"{name} exited during start-up: see {self.var / 'log' / name}.log")
            time.sleep(0.3)
        if pending:
            raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(pending)} (see {self.var / 'log'})")

    def _launch(self, name: str) -> None:
        module, prefix, _ = SERVICES[name]
        env = {**os.environ, f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
               f"{prefix}_HTTP_PORT": str(self.ports[name]), f"{prefix}_AUTH_JWT_SECRET": self.jwt_secret(),
               **(self._console_upstreams() if name in STATELESS else
                  {f"{prefix}_DATABASE_URL": self._database_url(name)}), **self._wiring(name),
               **{f"{prefix}_{key}": value for key, value in self.extra_env.items()}}
        with open(self.var / "log" / f"{name}.log", "a") as log:
            process = subprocess.Popen([sys.executable, "-m", module], env=env, cwd=ROOT, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        (self.var / "run" / f"{name}.pid").write_text(str(process.pid))

    def kill(self, name: str) -> None:
        """SIGKILL one service: no shutdown hook runs, whatever it held in memory is lost."""
        pid = self._pid(name)
        if pid:
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):  # by its pid: a supervisor may already have started the next one
                time.sleep(0.05)

    def revive(self, evict: bool = False) -> list[str]:
        """Start again every service whose process is gone (killed, or ended itself on a
        fatal error such as a lost broker): what a process supervisor does in production.
        ``evict``: first tell the broker the dead process's consumer left its group (its
        group is the service's name), so the new one is not held up for the dead member's
        session timeout; a broker that is down just leaves that wait in place."""
        revived = [name for name in SERVICES if self._pid(name) is None]
        for name in revived:
            if evict and name not in STATELESS:
                try:
                    evict_members(self.broker.bootstrap, name)
                except (KafkaError, OSError, TimeoutError):
                    pass  # the broker is down or restarting: nothing to shorten
            self._launch(name)
        return revived

    def ready(self) -> bool:
        """Every service answers /readyz."""
        return all(_ready(self.ports[name]) for name in SERVICES)

    def _start_standins(self) -> None:
        if self._pid("standins"):
            return
        ports = self.standin_ports
        command = [sys.executable, str(Path(__file__).resolve().parent / "local_standins.py"),
                   "--sms-port", str(ports["sms"]), "--smtp-port", str(ports["smtp"]),
                   "--print-port", str(ports["print"]), "--log", str(self.standins_log),
                   f"--secret={self.webhook_secret()}",  # a secret may begin with "-"
                   "--replies-url", f"{self.url('notifier')}/v1/webhooks/sms/replies"]
        if "CLOCK_FILE" in self.extra_env:
            command += ["--clock-file", self.extra_env["CLOCK_FILE"]]
        with open(self.var / "log" / "standins.log", "a") as log:
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        (self.var / "run" / "standins.pid").write_text(str(process.pid))
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{ports['sms']}/stats"):
            if self._pid("standins") is None or time.monotonic() > deadline:
                raise RuntimeError(f"the stand-ins did not start: see {self.var / 'log'}/standins.log")
            time.sleep(0.2)

    def _wiring(self, name: str) -> dict[str, str]:
        """Where a service finds the others and the stand-ins on this platform's ports."""
        if name == "agency-gateway":
            return {"GATEWAY_NOTIFIER_URL": self.url("notifier")}
        if name != "notifier":
            return {}
        ports = self.standin_ports
        return {"NOTIFIER_SMS_PROVIDER_URL": f"http://127.0.0.1:{ports['sms']}", "NOTIFIER_SMTP_HOST": "127.0.0.1",
                "NOTIFIER_SMTP_PORT": str(ports["smtp"]),
                "NOTIFIER_PRINT_VENDOR_URL": f"http://127.0.0.1:{ports['print']}",
                "NOTIFIER_SMS_WEBHOOK_SECRET": self.webhook_secret(),
                # The stand-in provider has the batch endpoint: 100 SMS per request, not one.
                "NOTIFIER_SMS_BATCH_SIZE": "100",
                # A simulator's quiet check waits longer than one rest of the dispatcher
                # (card_simulator.observe.settle); a short rest makes each check short.
                "NOTIFIER_DISPATCH_INTERVAL_SECONDS": "0.05"}

    def stop(self) -> list[str]:
        """Stop every service (SIGTERM, then SIGKILL after 30 s), the databases and Kafka."""
        stopped = []
        for name in [*SERVICES, "standins"]:
            pid = self._pid(name)
            if pid:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 30
                while self._pid(name) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if self._pid(name):
                    os.kill(pid, signal.SIGKILL)
                stopped.append(name)
            (self.var / "run" / f"{name}.pid").unlink(missing_ok=True)
        if self.postgres is not None:
            self.postgres.stop()
        if self._own_broker:
            self.broker.stop()
        return stopped


def up() -> None:
    platform = Platform(standin_ports=STANDINS)
    try:
        platform.start()
    except RuntimeError as error:
        sys.exit(str(error))
    print(f"Kafka            {platform.broker.bootstrap}")
    for name in [name for name in SERVICES if name not in STATELESS]:
        print(f"{name:<16} {platform.url(name)}  (/readyz, /metrics, /docs)")
    print(f"{'console':<16} {platform.url('console')}  (sign in: pick a role and a user name)")
    print("APIs need a bearer token: CC_AUTH_JWT_SECRET=$(cat var/dev-jwt-secret) "
          ".venv/bin/cc-token --role operations --subject me")
    print(f"stand-ins        SMS provider http://127.0.0.1:{STANDINS['sms']} (/messages, /stats), "
          f"SMTP 127.0.0.1:{STANDINS['smtp']}, print vendor http://127.0.0.1:{STANDINS['print']}")
    print("logs in var/log/, what reached customers in var/standins/*.jsonl; stop with `make down`")


def down() -> None:
    for name in Platform().stop():
        print(f"stopped {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    {"up": up, "down": down}[parser.parse_args().command]()
