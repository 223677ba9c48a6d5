"""Named crash points for the fault tests.

A process started with ``CC_CRASH_AT=<point>`` kills itself with SIGKILL when it
reaches that point, which is how the tests prove that a crash between a database
commit and the step after it loses nothing and duplicates nothing.
"""

from __future__ import annotations

import os
import signal

AFTER_DB_COMMIT = "after-db-commit"  # consumer: transaction committed, offsets not yet
BEFORE_PUBLISH = "before-publish"  # relay: outbox rows read, not yet sent

_armed = os.environ.get("CC_CRASH_AT", "")


def crash_point(name: str) -> None:
    if _armed == name:
        os.kill(os.getpid(), signal.SIGKILL)
