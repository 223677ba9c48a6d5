"""The local platform (make up, make demo, the browser tests) knows when a service it
started has exited: an exited child is a zombie until reaped, and a zombie still
answers kill(pid, 0), which once made every stop wait its full SIGTERM grace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

from local_platform import Platform  # noqa: E402


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
