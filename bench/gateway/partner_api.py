"""Benchmark: the gateway's partner API beside a bare FastAPI endpoint.

Three processes on the same machine in the same run: the gateway (uvicorn, SQLite
or PostgreSQL, auth + isolation + rate limit + audit on), a bare FastAPI app that
answers a fixed JSON page, and this load generator (httpx, N concurrent clients).
Each target is loaded for the same duration; we report requests/s, p50/p99 and
the ratio to the bare endpoint, and the gateway's peak resident memory.

    .venv/bin/python bench/gateway/partner_api.py --seconds 10 --concurrency 32 [--postgres]

No Kafka here: the gateway's outbox keeps the events the activities emit (the
relay's cost is measured by bench/runtime).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "tests"))


SECRET = "bench-secret-of-at-least-32-bytes!!"


def build_gateway(database_url: str):
    from agency_gateway.main import build_runtime
    from agency_gateway.settings import GatewaySettings

    settings = GatewaySettings(database_url=database_url, auth_jwt_secret=SECRET, log_level="WARNING")
    return build_runtime(settings, topics=[])


async def seed(runtime, placements: int, permits: int) -> None:
    """Migrate, register the bench partner, place ``placements`` cases with it, and keep
    ``permits`` call permits the notifier allowed: PM-n for placement PL-(n mod placements)."""
    from agency_gateway.main import prepare
    from agency_gateway.partners import PartnerTerms, register
    from agency_gateway.tables import call_permits
    from collections_core.codec import EventCodec, TypeRegistry
    from collections_core.contracts.collections.v1 import placements_pb2
    from collections_core.contracts.corebanking.v1 import customers_pb2
    from collections_core.migrations import upgrade
    from collections_core.money import Money
    from collections_core.tracing import TraceContext
    from collections_core.unit_of_work import UnitOfWork

    await upgrade(runtime.database, runtime.migrations)
    await prepare(runtime)
    codec = EventCodec(TypeRegistry.of_contracts(), "/bench")
    async with runtime.database.transaction() as connection:
        await register(connection, runtime.keyring, PartnerTerms(
            "BENCH", "Bench Agency", "agency", ("*",), placements + 1, 1500, "CT-B",
            rate_limit_per_second=100_000, client_secret="bench-client-secret"), runtime.clock.now())
    messages = [customers_pb2.CustomerUpserted(customer_id="C-B", name="Bench Customer", phone="+8613800000000")]
    messages += [placements_pb2.PlacementRequested(
        placement_id=f"PL-{n:06d}", case_id=f"K-{n}", account_id=f"A-{n}", customer_id="C-B",
        kind=placements_pb2.PLACEMENT_KIND_AGENCY, amount=Money(100_000, "CNY").to_proto(), dpd=95,
        region="Shanghai") for n in range(placements)]
    handlers = runtime.gateway.handlers()
    for message in messages:
        event = codec.decode(*codec.encode(message, "k", runtime.clock.now(), TraceContext.new()))
        async with runtime.database.transaction() as connection:
            work = UnitOfWork(connection, codec, runtime.clock, cause=event)
            await handlers[event.type](event, work)
            await work.flush()
    async with runtime.database.transaction() as connection:
        await connection.execute(call_permits.insert(), [dict(
            permit_id=f"PM-{n}", placement_id=f"PL-{n % placements:06d}", partner_id="BENCH", customer_id="C-B",
            decision="allow", rule=None, issued_at=runtime.clock.now()) for n in range(permits)])


async def prepare_gateway(database_url: str, placements: int, permits: int):
    """An app ready to serve in this event loop (bench/gateway/profile_requests.py)."""
    from agency_gateway.main import create_app

    runtime = build_gateway(database_url)
    await seed(runtime, placements, permits)
    return create_app(runtime.settings, runtime), runtime


def serve_gateway(database_url: str, port: int, placements: int, permits: int) -> None:
    """Child process: migrate, register a partner, place cases, then serve."""
    from agency_gateway.main import create_app

    runtime = build_gateway(database_url)

    async def setup() -> None:
        await seed(runtime, placements, permits)
        await runtime.database.dispose()

    asyncio.run(setup())
    serve(create_app(runtime.settings, runtime), port)


def serve(app, port: int) -> None:
    """The gateway and the bare app are served alike: one uvicorn worker, the same event
    loop and HTTP parser, no access log, and the runtime's collector tuning (as
    collections_core.service.serve does for the real service)."""
    import uvicorn

    from collections_core.service import tune_garbage_collector

    tune_garbage_collector()
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, loop="auto", http="auto", access_log=False,
                log_level="warning", lifespan="off")


def serve_bare(port: int) -> None:
    from fastapi import FastAPI

    app = FastAPI()
    # The same page the gateway answers (bench partner, 50 placements), so both
    # serialise the same JSON.
    page = {"placements": [{
        "placement_id": f"PL-{n:06d}", "account_id": f"A-{n}", "kind": "agency", "region": "Shanghai",
        "amount": {"amount_minor": 100_000, "currency": "CNY"}, "dpd": 95, "status": "placed",
        "placed_at": "2026-11-29T09:00:00.123456+00:00", "acknowledged_at": None, "expires_on": "2027-02-27",
        "ended_at": None, "end_reason": None} for n in range(50)], "next_cursor": "UEwtMDAwMDQ5"}

    @app.get("/v1/placements")
    async def placements() -> dict:
        return page

    @app.post("/v1/placements/{placement_id}/activities", status_code=201)
    async def activity(placement_id: str, body: dict) -> dict:
        return {"activity_id": uuid.uuid4().hex, "placement_id": placement_id, **body}

    serve(app, port)


def gateway_database(work: Path, on_postgres: bool):
    """The gateway's database URL under `work`, and the PostgreSQL server started for it (None: SQLite)."""
    if not on_postgres:
        return f"sqlite:///{work / 'gateway.db'}", None
    from local_postgres import LocalPostgres
    postgres = LocalPostgres(work / "pg", port=free_port())
    postgres.start()
    postgres.create_database("gateway")
    return postgres.dsn("gateway"), postgres


def free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                await client.get(f"{url}/openapi.json")
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


async def load(url: str, make_request, seconds: float, concurrency: int,
               server: psutil.Process) -> tuple[float, list[float], int, float]:
    """Requests/s, latencies, errors, and the server's CPU seconds per request."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds

    async def client_loop(client: httpx.AsyncClient, worker: int) -> None:
        nonlocal errors
        n = 0
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                response = await make_request(client, worker, n)
            except httpx.TransportError as error:  # a dropped connection is an error of the run, not its end
                errors += 1
                print(f"transport error from {url}: {error!r}", file=sys.stderr)
                n += 1
                continue
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 400:
                errors += 1
            n += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        cpu, began = server.cpu_times(), time.monotonic()
        await asyncio.gather(*(client_loop(client, w) for w in range(concurrency)))
        elapsed, used = time.monotonic() - began, server.cpu_times()
    cpu_seconds = used.user + used.system - cpu.user - cpu.system
    return len(latencies) / elapsed, latencies, errors, cpu_seconds / max(1, len(latencies))


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--placements", type=int, default=2_000)
    parser.add_argument("--permits", type=int, default=20_000, help="call permits for the call-attempt load")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (embedded) instead of SQLite")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    database_url, postgres = gateway_database(work, args.postgres)
    gateway_port, bare_port = free_port(), free_port()
    python = sys.executable
    me = str(Path(__file__).resolve())
    gateway = subprocess.Popen([python, me, "--serve-gateway", database_url, str(gateway_port),
                                str(args.placements), str(args.permits)], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    bare = subprocess.Popen([python, me, "--serve-bare", str(bare_port)])
    try:
        gateway_url, bare_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{bare_port}"
        await asyncio.gather(wait_up(gateway_url), wait_up(bare_url))
        async with httpx.AsyncClient() as client:
            token = (await client.post(f"{gateway_url}/oauth/token", data={
                "grant_type": "client_credentials", "client_id": "BENCH",
                "client_secret": "bench-client-secret"})).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        process, bare_process = psutil.Process(gateway.pid), psutil.Process(bare.pid)
        load_before = os.getloadavg()
        peak = [process.memory_info().rss]

        async def watch_memory() -> None:
            while True:
                peak[0] = max(peak[0], process.memory_info().rss)
                await asyncio.sleep(0.1)

        run_id = uuid.uuid4().hex[:6]
        activity = {"kind": "note", "occurred_at": "2026-11-02T10:00:00+08:00", "note": "bench"}
        permits = itertools.count()

        def get_page(client, worker, n):
            return client.get("/v1/placements", params={"limit": 50}, headers=auth)

        def post_activity(client, worker, n):
            placement = f"PL-{(worker * 7919 + n) % args.placements:06d}"
            return client.post(f"/v1/placements/{placement}/activities", json=activity,
                               headers={**auth, "Idempotency-Key": f"{run_id}-{worker}-{n}"})

        def post_call_attempt(client, worker, n):
            # Each call goes by its own permit (one permit, one call), for the permit's placement.
            permit = next(permits)
            if permit >= args.permits:
                raise SystemExit("the run outgrew --permits: give it more")
            return client.post(f"/v1/placements/PL-{permit % args.placements:06d}/activities", json={
                "kind": "call-attempt", "occurred_at": "2026-11-02T10:00:00+08:00", "permit_id": f"PM-{permit}"},
                headers={**auth, "Idempotency-Key": f"{run_id}-call-{worker}-{n}"})

        watcher = asyncio.create_task(watch_memory())
        results = {}
        for name, request in (("GET placements page", get_page), ("POST activity (note)", post_activity),
                              ("POST call-attempt", post_call_attempt)):
            results[name] = (await load(gateway_url, request, args.seconds, args.concurrency, process),
                             await load(bare_url, request, args.seconds, args.concurrency, bare_process))
        watcher.cancel()
        engine = "PostgreSQL" if args.postgres else "SQLite"
        print(f"\nagency-gateway partner API vs bare FastAPI, {engine}, {args.concurrency} clients, "
              f"{args.seconds:.0f} s each, {os.cpu_count()} CPUs; load average before "
              f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
        print(f"{'operation':<22}{'target':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
              f"{'CPU ms/req':>12}{'ratio':>8}")
        for name, ((g_rate, g_lat, g_err, g_cpu), (b_rate, b_lat, b_err, b_cpu)) in results.items():
            print(f"{name:<22}{'gateway':<9}{g_rate:>9.0f}{percentile(g_lat, 50):>9.1f}{percentile(g_lat, 99):>9.1f}"
                  f"{g_err:>8}{g_cpu * 1000:>12.2f}{g_rate / b_rate:>8.2f}")
            print(f"{'':<22}{'bare':<9}{b_rate:>9.0f}{percentile(b_lat, 50):>9.1f}{percentile(b_lat, 99):>9.1f}"
                  f"{b_err:>8}{b_cpu * 1000:>12.2f}")
        print(f"gateway peak resident memory: {peak[0] / 2**20:.0f} MiB")
    finally:
        for child in (gateway, bare):
            child.terminate()
            child.wait(timeout=30)
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-gateway":
        serve_gateway(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]))
    else:
        asyncio.run(main())
