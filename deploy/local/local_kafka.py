"""A real Apache Kafka broker (KRaft, single node) for local runs and tests.

The jars come from Maven Central through ./pom.xml and are cached in
``<home>/libs`` (fetched only when missing). Runs on the JDK found on PATH.

    python deploy/local/local_kafka.py fetch|start|stop|status|create-topics [--home var/kafka] [--port 9092]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOPICS_FILE = ROOT / "deploy" / "topics.yaml"

LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="{log}"><PatternLayout pattern="[%d] %p %m (%c)%n"/></File>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/>
    <Logger name="org.apache.kafka" level="INFO"/>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def _say(text: str) -> None:
    print(f"[kafka] {text}", file=sys.stderr, flush=True)


class KafkaBroker:
    def __init__(self, home: Path, port: int = 9092, controller_port: int | None = None,
                 libs: Path | None = None) -> None:
        self.home = Path(home).resolve()
        self.port = port
        self.controller_port = controller_port or port + 1
        self.libs = Path(libs).resolve() if libs else self.home / "libs"
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.pid_file = self.home / "kafka.pid"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fetch(self) -> None:
        if self.libs.is_dir() and any(self.libs.glob("kafka_2.13-*.jar")):
            return
        if shutil.which("mvn") is None:
            raise RuntimeError("mvn not found: Maven is needed once to fetch the Kafka jars")
        _say(f"fetching Kafka jars from Maven Central into {self.libs}")
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        log = self.libs.parent / "mvn-fetch.log"
        with open(log, "w") as out:
            result = subprocess.run(
                ["mvn", "-B", "-q", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
                 f"-DoutputDirectory={self.libs}", "-DincludeScope=runtime"], stdout=out, stderr=subprocess.STDOUT)
        if result.returncode:
            raise RuntimeError(f"mvn failed fetching Kafka ({result.returncode}): see {log}")

    def _java(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        if shutil.which("java") is None:
            raise RuntimeError("java not found: a JDK 17+ is needed to run Kafka")
        return subprocess.run(["java", "-cp", f"{self.libs}/*", *args], capture_output=True, text=True, **kwargs)

    def _properties(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "server.properties"
        path.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.data}",
            "num.partitions=1",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]))
        return path

    def format(self) -> None:
        properties = self._properties()
        if (self.data / "meta.properties").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        cluster_id = _random_cluster_id()
        result = self._java("kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id,
                            "-c", str(properties))
        if result.returncode:
            raise RuntimeError(f"formatting Kafka storage failed: {result.stderr[-2000:]}")

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        if self.is_running():
            return
        self.fetch()
        self.format()
        self.logs.mkdir(parents=True, exist_ok=True)
        log4j = self.home / "log4j2.xml"
        log4j.write_text(LOG4J2.format(log=self.logs / "kafka.log"))
        _say(f"starting broker on {self.bootstrap} (logs in {self.logs})")
        with open(self.logs / "stdout.log", "a") as out:
            process = subprocess.Popen(
                ["java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", f"-Dlog4j2.configurationFile={log4j}",
                 f"-Dkafka.logs.dir={self.logs}", "-cp", f"{self.libs}/*", "kafka.Kafka",
                 str(self.home / "server.properties")],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(str(process.pid))

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise RuntimeError(f"Kafka exited during start-up: see {self.logs}")
            if _run_async(_answers_metadata(self.bootstrap)):
                _say("broker ready")
                return
            time.sleep(0.5)
        raise TimeoutError(f"Kafka not ready after {timeout}s: see {self.logs}")

    def stop(self, timeout: float = 30.0) -> None:
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 10)

    def _signal(self, sig: int, timeout: float) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        _say("broker stopped")


def _random_cluster_id() -> str:
    """What ``kafka-storage random-uuid`` prints (16 random bytes, URL-safe base64 without
    padding, never starting with "-"), without starting a JVM for it."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _run_async(coroutine):
    """asyncio.run, also from code that already runs inside an event loop (async tests)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if finished:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _answers_metadata(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    host, port = bootstrap.rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex((host, int(port))):
            return False
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


async def create_topic(bootstrap: str, name: str, partitions: int, configs: dict[str, str] | None = None) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


def declared_topics(path: Path = TOPICS_FILE) -> list[dict]:
    return yaml.safe_load(path.read_text())["topics"]


def create_topics(bootstrap: str, path: Path = TOPICS_FILE) -> list[str]:
    """Create every declared topic that does not exist yet (idempotent)."""
    async def apply() -> list[str]:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in declared_topics(path) if t["name"] not in existing]
            if missing:
                await admin.create_topics([NewTopic(
                    t["name"], t["partitions"], 1,
                    topic_configs={"retention.ms": str(t["retention_ms"]), "cleanup.policy": t["cleanup_policy"]})
                    for t in missing])
            return [t["name"] for t in missing]
        finally:
            await admin.close()

    return _run_async(apply())


def evict_members(bootstrap: str, group: str) -> int:
    """Tell ``group``'s coordinator that every member of it has left, as each member's own
    clean shutdown would (a LeaveGroup request per member); returns how many there were.
    For a group whose process was SIGKILLed: the one started in its place then joins at
    once instead of waiting out the dead member's session timeout (decision 0102)."""
    async def evict() -> int:
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.protocol.group import LeaveGroupRequest

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            coordinator = await admin.find_coordinator(group)
            [described] = await admin.describe_consumer_groups([group], group_coordinator_id=coordinator)
            members = [member[0] for found in described.groups for member in found[5]]
            for member_id in members:
                # aiokafka's admin client has no LeaveGroup of its own; its connection does.
                await admin._client.send(coordinator, LeaveGroupRequest(group, member_id))  # noqa: SLF001
            return len(members)
        finally:
            await admin.close()

    return _run_async(evict())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["fetch", "start", "stop", "status", "create-topics"])
    parser.add_argument("--home", type=Path, default=ROOT / "var" / "kafka")
    parser.add_argument("--port", type=int, default=9092)
    args = parser.parse_args()
    broker = KafkaBroker(args.home, args.port)
    if args.command == "fetch":
        broker.fetch()
    elif args.command == "start":
        broker.start()
        broker.wait_ready()
        created = create_topics(broker.bootstrap)
        _say(f"topics created: {len(created)} (declared in {TOPICS_FILE.relative_to(ROOT)})")
    elif args.command == "stop":
        broker.stop()
    elif args.command == "status":
        print("running" if broker.is_running() else "stopped")
        return 0 if broker.is_running() else 1
    elif args.command == "create-topics":
        print("\n".join(create_topics(broker.bootstrap)) or "all topics exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
