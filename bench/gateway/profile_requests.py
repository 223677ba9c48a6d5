"""Where one partner request's time goes: the gateway's ASGI app called in-process
(no HTTP server, no client), one request at a time, on SQLite or PostgreSQL.

For each kind of request it reports the server-side CPU time per request, the SQL
statements, transactions and connection checkouts per request, and (--profile) the
functions that cost the most under cProfile.

    .venv/bin/python bench/gateway/profile_requests.py [--postgres] [--requests 500] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import collections
import json
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import event

from collections_core.http import MeasureRequests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from partner_api import gateway_database, prepare_gateway  # noqa: E402


class StatementCounter:
    """Counts what the engine sends: statements by verb, transactions, pool checkouts."""

    def __init__(self, engine) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        event.listen(engine, "before_cursor_execute", self._statement)
        if engine.dialect.name != "sqlite":  # SQLite's BEGIN is a statement of its own (database.py)
            event.listen(engine, "begin", lambda _c: self.counts.update(["BEGIN"]))
        event.listen(engine, "commit", lambda _c: self.counts.update(["COMMIT"]))
        event.listen(engine, "rollback", lambda _c: self.counts.update(["ROLLBACK"]))
        event.listen(engine.pool, "checkout", lambda *_a: self.counts.update(["checkout"]))

    def _statement(self, _conn, _cursor, statement, *_rest) -> None:
        self.counts[statement.lstrip().split(None, 1)[0].upper()] += 1

    def count_driver_statements(self) -> None:
        """SQLite: the statements sent on aiosqlite's connection itself, past SQLAlchemy (the
        outbox's insert, the gateway's driver statements), counted as "VERB (driver)"."""
        import aiosqlite

        execute_fetchall = aiosqlite.Connection.execute_fetchall
        counts = self.counts

        async def counted(connection, sql, parameters=None):
            counts[f"{sql.lstrip().split(None, 1)[0].upper()} (driver)"] += 1
            return await execute_fetchall(connection, sql, parameters)

        aiosqlite.Connection.execute_fetchall = counted


async def call(app, method: str, path: str, headers: dict[str, str], body: bytes = b"",
               query: str = "") -> tuple[int, bytes]:
    """One request straight into the ASGI app."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 50000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in
                         {**headers, "host": "gateway", "content-length": str(len(body))}.items()]}
    sent = [{"type": "http.request", "body": body, "more_body": False}]
    status, chunks = 0, []

    async def receive():
        return sent.pop() if sent else {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--placements", type=int, default=2_000)
    parser.add_argument("--profile", action="store_true", help="print the costliest functions (cProfile)")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="cumulative", help="cProfile order: cumulative or tottime")
    parser.add_argument("--without-request-metrics", action="store_true",
                        help="drop the runtime's request-metrics middleware "
                             "(collections_core.http.MeasureRequests) to measure what it costs")
    parser.add_argument("--only", help="the one kind of request to run (its name's first word, e.g. POST)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="profile-gateway-"))
    database_url, postgres = gateway_database(work, args.postgres)
    try:
        app, runtime = await prepare_gateway(database_url, args.placements, permits=args.requests + 20)
        counter = StatementCounter(runtime.database.engine.sync_engine)
        if not args.postgres:
            counter.count_driver_statements()
        if args.without_request_metrics:
            app.user_middleware = [m for m in app.user_middleware if m.cls is not MeasureRequests]
            app.middleware_stack = None  # rebuilt on the next call
        status, body = await call(app, "POST", "/oauth/token", {"content-type": "application/x-www-form-urlencoded"},
                                  b"grant_type=client_credentials&client_id=BENCH&client_secret=bench-client-secret")
        token = json.loads(body)["access_token"]
        auth = {"authorization": f"Bearer {token}"}
        run = uuid.uuid4().hex[:6]
        kinds = {
            "GET placements page": lambda n: ("GET", "/v1/placements", {}, b"", "limit=50"),
            "GET one placement (PII, audited)": lambda n: (
                "GET", f"/v1/placements/PL-{n % args.placements:06d}", {}, b"", ""),
            "POST activity (note)": lambda n: (
                "POST", f"/v1/placements/PL-{n % args.placements:06d}/activities",
                {"content-type": "application/json", "idempotency-key": f"{run}-note-{n}"},
                json.dumps({"kind": "note", "occurred_at": "2026-11-02T10:00:00+08:00", "note": "bench"}).encode(),
                ""),
            "POST activity (call-attempt, permit)": lambda n: (
                "POST", f"/v1/placements/PL-{n % args.placements:06d}/activities",
                {"content-type": "application/json", "idempotency-key": f"{run}-call-{n}"},
                json.dumps({"kind": "call-attempt", "occurred_at": "2026-11-02T10:00:00+08:00",
                            "permit_id": f"PM-{n}"}).encode(), ""),
        }
        engine = "PostgreSQL" if args.postgres else "SQLite"
        print(f"agency-gateway, in-process ASGI calls, {engine}, {args.requests} requests of each kind\n")
        for name, make in kinds.items():
            if args.only and not name.lower().startswith(args.only.lower()):
                continue
            for n in range(20):  # warm-up: compiled-statement cache, first connections
                method, path, headers, body, query = make(args.requests + n)
                status, answer = await call(app, method, path, {**auth, **headers}, body, query)
                assert status < 300, (name, status, answer[:300])
            counter.counts.clear()
            profiler = cProfile.Profile() if args.profile else None
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for n in range(args.requests):
                method, path, headers, body, query = make(n)
                status, answer = await call(app, method, path, {**auth, **headers}, body, query)
                assert status < 300, (name, status, answer[:300])
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            per = {k: v / args.requests for k, v in sorted(counter.counts.items())}
            statements = sum(v for k, v in per.items() if k != "checkout")
            print(f"{name}: {cpu / args.requests * 1e6:.0f} µs CPU, {wall / args.requests * 1e6:.0f} µs wall "
                  f"per request; {statements:.2f} statements per request "
                  f"({', '.join(f'{k} {v:.2f}' for k, v in per.items())})")
            if profiler:
                stats = pstats.Stats(profiler)
                stats.sort_stats(args.sort).print_stats(args.top)
    finally:
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    asyncio.run(main())
