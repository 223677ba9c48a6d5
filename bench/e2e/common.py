"""What both end-to-end scenarios need: free ports, a platform of their own on them, and
the peak resident memory of every process it ran."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from card_simulator.observe import settle

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


async def settled(platform: Platform, timeout: float = 600.0) -> None:
    """Until every service has taken in what was published (no lag, no outbox backlog,
    nothing moving): the set-up is not part of what a scenario times."""
    urls = {name: platform.url(name) for name in SERVICES}
    async with httpx.AsyncClient(timeout=10) as client:
        await settle(client, urls, lambda: 0, timeout=timeout)


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pids(platform: Platform) -> dict[str, int]:
    pids = {name: int((platform.var / "run" / f"{name}.pid").read_text()) for name in [*SERVICES, "standins"]}
    pids["kafka"] = int(platform.broker.pid_file.read_text())
    return pids


def peak_rss(platform: Platform) -> dict[str, float]:
    """VmHWM of every service, the stand-ins and the broker, in MiB (while they still run)."""
    return {name: _peak_rss_mib(pid) for name, pid in _pids(platform).items()}


def cpu_seconds(platform: Platform) -> dict[str, float]:
    """CPU time (user + system) every process of the platform, and this bench's own
    (its producer and stand-in receivers share the machine), has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in {**_pids(platform), "this bench": os.getpid()}.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / tick
    return used


def print_peaks(peaks: dict[str, float]) -> None:
    for name, peak in peaks.items():
        print(f"peak RSS {name:<17} {peak:8.1f} MiB")
    print(f"peak RSS total             {sum(peaks.values()):8.1f} MiB")


class HopWatch:
    """When each hop's output topic got its records: the log-end offsets of the platform's
    own topics, sampled every quarter second from `start()` to `stop()`; `report()` prints,
    per topic, the records added and when the first and the last of them appeared (the hop
    whose records trail the others' is the one that limits the chain), and the CPU each
    process of the platform used meanwhile."""

    TOPICS = ("corebanking.payments.v1", "collections.delinquency.v1", "collections.case-events.v1",
              "collections.contact-requests.v1", "collections.contact-events.v1", "collections.placements.v1",
              "collections.agency-events.v1")

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.cpu: list[dict[str, float]] = []  # at start() and at stop()
        self.watched = 0.0
        self._started = 0.0
        self._task = None
        self._first_at: dict[str, dict[str, float]] = {}  # topic → key → its first record's timestamp, s

    def _partitions(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t in self.TOPICS for p in range(6)]  # deploy/topics.yaml

    async def _ends(self, consumer) -> dict[str, int]:
        ends = await consumer.end_offsets(self._partitions())
        totals = dict.fromkeys(self.TOPICS, 0)
        for partition, end in ends.items():
            totals[partition.topic] += end
        return totals

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.platform.broker.bootstrap, group_id=None)
        await consumer.start()
        self.samples.append((0.0, await self._ends(consumer)))
        self.cpu.append(cpu_seconds(self.platform))
        self._started = time.monotonic()
        self.started_wall_ms = int(time.time() * 1000)

        async def sample() -> None:
            try:
                while True:
                    await asyncio.sleep(0.25)
                    self.samples.append((time.monotonic() - self._started, await self._ends(consumer)))
            finally:
                await consumer.stop()

        self._task = asyncio.create_task(sample())

    async def stop(self) -> None:
        if self._task:
            self.watched = time.monotonic() - self._started
            self.cpu.append(cpu_seconds(self.platform))
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            await self._read_back()

    async def _read_back(self) -> None:
        """Each key's first record on each topic since `start()`, by the record's own
        timestamp (the producer's clock, ms): the lag of every hop per account."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.platform.broker.bootstrap, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = self._partitions()
            consumer.assign(partitions)
            starts = await consumer.offsets_for_times({tp: self.started_wall_ms for tp in partitions})
            stops = await consumer.end_offsets(partitions)
            remaining = {tp: stops[tp] for tp in partitions if starts[tp] is not None and stops[tp] > starts[tp].offset}
            for tp in remaining:
                consumer.seek(tp, starts[tp].offset)
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=2000)
                if not batches:
                    break  # nothing more within 2 s: report what was read
                for tp, records in batches.items():
                    seen = self._first_at.setdefault(tp.topic, {})
                    for record in records:
                        if record.offset < stops[tp]:
                            seen.setdefault(record.key.decode() if record.key else "", record.timestamp / 1000)
                    if records[-1].offset + 1 >= stops[tp]:
                        remaining.pop(tp, None)
        finally:
            await consumer.stop()

    def first_at(self, topic: str, key: str) -> float | None:
        """When ``key``'s first record on ``topic`` since `start()` was written (epoch seconds)."""
        return self._first_at.get(topic, {}).get(key)

    def print_lags(self, chain: list[tuple[str, dict[str, float]]]) -> None:
        """p50/p99 of each step of ``chain`` (name, key → epoch seconds), over the keys
        every step has: where in the chain the time goes."""
        keys = set.intersection(*(set(times) for _, times in chain))
        if not keys:
            return
        print(f"where the time went, per account ({len(keys)} with every step; ms, p50 / p99 / max):")
        for (before, earlier), (name, later) in zip(chain, chain[1:], strict=False):
            gaps = sorted(1000 * (later[k] - earlier[k]) for k in keys)
            print(f"  {before + ' → ' + name:<68} {gaps[len(gaps) // 2]:7.0f} / "
                  f"{gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))]:7.0f} / {gaps[-1]:7.0f}")

    def report(self) -> None:
        if not self.samples:
            return
        first = self.samples[0][1]
        print("hop by hop (records added to each topic; when the first and the last appeared, seconds):")
        for topic in self.TOPICS:
            added = self.samples[-1][1][topic] - first[topic]
            if not added:
                continue
            began = next(t for t, ends in self.samples if ends[topic] > first[topic])
            ended = next(t for t, ends in self.samples if ends[topic] - first[topic] >= added)
            print(f"  {topic:<33} {added:>7} records, first at {began:6.1f}, last at {ended:6.1f}")
        if len(self.cpu) == 2:
            before, after = self.cpu
            print(f"CPU used meanwhile ({self.watched:.1f} s of wall clock, 2 cores): " + ", ".join(
                f"{name} {after[name] - before[name]:.1f} s"
                for name in sorted(after, key=lambda n: before[n] - after[n])))
