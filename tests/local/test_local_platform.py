"""The local platform (make up, make demo, the browser tests) knows when a service it
started has exited: an exited child is a zombie until reaped, and a zombie still
answers kill(pid, 0), which once made every stop wait its full SIGTERM grace."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

from local_platform import SERVICES, Platform, free_kafka_port  # noqa: E402


def test_a_service_that_exited_is_not_running(tmp_path):
    platform = Platform(var=tmp_path)
    (tmp_path / "run").mkdir()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pid_file = tmp_path / "run" / "notifier.pid"
    pid_file.write_text(str(child.pid))
    assert platform._pid("notifier") == child.pid
    child.terminate()
    deadline = time.monotonic() + 10
    while platform._pid("notifier") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert platform._pid("notifier") is None


def test_a_process_started_elsewhere_is_seen_running(tmp_path):
    platform = Platform(var=tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notifier.pid").write_text("1")  # not this process's child, and alive
    assert platform._pid("notifier") == 1
    (tmp_path / "run" / "notifier.pid").write_text("999999999")
    assert platform._pid("notifier") is None


def test_the_stand_ins_start_whatever_their_generated_secret_begins_with(tmp_path):
    # secrets.token_urlsafe may begin with "-", which an option parser takes for an option.
    platform = Platform(var=tmp_path)  # the stand-ins on free ports
    (tmp_path / "log").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "dev-webhook-secret").write_text("-starts-like-an-option")
    try:
        platform._start_standins()  # raises when they do not answer
        assert platform._pid("standins") is not None
    finally:
        pid = platform._pid("standins")
        if pid:
            os.kill(pid, signal.SIGTERM)


def test_a_kill_returns_once_its_process_is_gone_though_a_supervisor_started_the_next(tmp_path):
    platform = Platform(var=tmp_path)
    (tmp_path / "run").mkdir()
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    successor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run" / "notifier.pid").write_text(str(killed.pid))
        looked_up = platform._pid

        def supervised(name: str) -> int | None:
            # A supervisor writes the successor's pid as soon as it sees the process gone;
            # kill() once waited on the pid file, so for ever.
            pid = looked_up(name)
            (tmp_path / "run" / "notifier.pid").write_text(str(successor.pid))
            return pid

        platform._pid = supervised
        platform.kill("notifier")
        assert killed.poll() is not None, "reaped: gone for good"
        assert (tmp_path / "run" / "notifier.pid").read_text() == str(successor.pid)
    finally:
        successor.kill()
        successor.wait()


def test_revive_starts_again_only_the_services_that_are_gone(tmp_path):
    platform = Platform(var=tmp_path)
    (tmp_path / "run").mkdir()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run" / "notifier.pid").write_text(str(alive.pid))
        launched = []
        platform._launch = launched.append
        assert platform.revive() == [name for name in SERVICES if name != "notifier"] == launched
    finally:
        alive.kill()
        alive.wait()


def test_the_brokers_port_and_the_next_one_are_free_and_outside_the_ephemeral_range():
    port = free_kafka_port()
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert port + 1 < low
    for candidate in (port, port + 1):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", candidate))
