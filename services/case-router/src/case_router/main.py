"""Composition root of the case-router, and its command line.

    case-router                         run the service (consumer, relay, agent desk API)
    case-router strategy check FILE     validate a strategy file; errors name file, line and field
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from sqlalchemy import func, select

from case_router import metrics
from case_router.api import ROUTERS
from case_router.domain.strategy import Stage, Strategy, StrategyError, load_strategy
from case_router.handlers import TOPICS, batch_handlers, handlers
from case_router.settings import RouterSettings
from case_router.tables import cases, holds, tasks
from collections_core.database import is_transient
from collections_core.service import ServiceRuntime, configure, serve


def build_runtime(settings: RouterSettings, topics: list[str] = TOPICS, clock=None) -> ServiceRuntime:
    """The router's runtime; tests pass their own topics to stay apart from one another."""
    strategy = settings.strategy()
    runtime = ServiceRuntime(settings, topics=topics, handlers=handlers(strategy),
                             batch_handlers=batch_handlers(strategy), clock=clock,
                             migrations=Path(__file__).parent / "migrations", workers=[refresh_gauges])
    runtime.strategy = strategy
    return runtime


async def refresh_gauges(runtime: ServiceRuntime) -> None:
    """Open cases per stage, holds per kind and tasks per queue, re-read from the store."""
    while True:
        try:
            await _read_gauges(runtime)
        except Exception as error:
            if not is_transient(error):
                raise
            # Best effort: a database that is down now is read again at the next refresh.
        await asyncio.sleep(runtime.settings.gauges_refresh_seconds)


async def _read_gauges(runtime: ServiceRuntime) -> None:
    async with runtime.database.reading() as connection:
        for gauge, query in (
            (metrics.CASES_BY_STAGE, select(cases.c.stage, func.count()).where(cases.c.status == "open")
             .group_by(cases.c.stage)),
            (metrics.HOLDS_ACTIVE, select(holds.c.kind, func.count()).where(holds.c.ended_on.is_(None))
             .group_by(holds.c.kind)),
            (metrics.TASKS_WAITING, select(tasks.c.queue, func.count()).where(tasks.c.status == "waiting")
             .group_by(tasks.c.queue)),
        ):
            gauge.clear()
            if gauge is metrics.CASES_BY_STAGE:
                # Every stage is a series, 0 when empty: a dashboard shows the ladder, not gaps.
                for stage in Stage:
                    gauge.labels(stage.label).set(0)
            for label, count in (await connection.execute(query)).all():
                gauge.labels(label).set(count)


def create_app(settings: RouterSettings | None = None):
    settings = settings or RouterSettings()
    return build_runtime(settings).app("case-router", ROUTERS)


def check_strategy(path: str) -> int:
    try:
        strategy: Strategy = load_strategy(path)
    except StrategyError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{path}: strategy {strategy.id} version {strategy.version}, {len(strategy.rules)} rules, "
          f"variants {', '.join(f'{v.name}={v.weight}' for v in strategy.variants)}: valid")
    return 0


def run(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        parser = argparse.ArgumentParser(prog="case-router")
        commands = parser.add_subparsers(dest="command", required=True)
        strategy = commands.add_parser("strategy", help="work with strategy files").add_subparsers(
            dest="action", required=True)
        strategy.add_parser("check", help="validate a strategy file").add_argument("file")
        args = parser.parse_args(argv)
        sys.exit(check_strategy(args.file))
    settings = RouterSettings()
    configure(settings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
