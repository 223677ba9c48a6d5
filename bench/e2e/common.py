"""What both end-to-end scenarios need: free ports, a platform of their own on them, and
the peak resident memory of every process it ran."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

from local_platform import SERVICES, Platform, free_kafka_port  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def platform_at(home: Path, database: str, extra_env: dict[str, str]) -> Platform:
    return Platform(home, kafka_port=free_kafka_port(), ports={name: free_port() for name in SERVICES},
                    database=database, postgres_port=free_port(), extra_env=extra_env,
                    standin_ports={name: free_port() for name in ("sms", "smtp", "print")})


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss(platform: Platform) -> dict[str, float]:
    """VmHWM of every service, the stand-ins and the broker, in MiB (while they still run)."""
    pids = {name: int((platform.var / "run" / f"{name}.pid").read_text()) for name in [*SERVICES, "standins"]}
    pids["kafka"] = int(platform.broker.pid_file.read_text())
    return {name: _peak_rss_mib(pid) for name, pid in pids.items()}


def print_peaks(peaks: dict[str, float]) -> None:
    for name, peak in peaks.items():
        print(f"peak RSS {name:<17} {peak:8.1f} MiB")
    print(f"peak RSS total             {sum(peaks.values()):8.1f} MiB")
