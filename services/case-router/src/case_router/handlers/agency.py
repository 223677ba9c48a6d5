"""collections.agency-events.v1: what agencies and law firms report back.

A partner's promise is judged like the bank's; a dispute or hardship report holds
the case and recalls the placement (DESIGN.md §3); a return marks the case as
returned unresolved, which the strategy may route to a law firm.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update

from case_router import casebook, judgement
from case_router.domain.promises import InvalidPromise, PromiseToPay
from case_router.domain.strategy import Strategy
from case_router.rows import store_of
from case_router.tables import cases, placements, timeline
from collections_core.codec import Event, Rejected, type_of
from collections_core.consumer import BatchHandler
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_from_proto


def handlers(strategy: Strategy):
    async def _placed_case(work: UnitOfWork, placement_id: str):
        placement = (await work.connection.execute(select(placements).where(
            placements.c.placement_id == placement_id))).first()
        if placement is None:
            raise Rejected(f"unknown placement {placement_id!r}")
        case = (await work.connection.execute(select(cases).where(cases.c.case_id == placement.case_id))).first()
        return placement, case

    async def _status(work: UnitOfWork, placement_id: str, status: str) -> None:
        await work.connection.execute(update(placements).where(placements.c.placement_id == placement_id)
                                      .values(status=status))

    async def accepted(event: Event, work: UnitOfWork) -> None:
        message: placements_pb2.PlacementAccepted = event.message
        placement, case = await _placed_case(work, message.placement_id)
        if placement.status == "requested":
            await _status(work, placement.placement_id, "accepted")
        await casebook.note(work, case.case_id, "placement-accepted", f"{message.placement_id} {message.partner_id}",
                            actor=message.partner_id)

    async def activity(event: Event, work: UnitOfWork) -> None:
        message: placements_pb2.PartnerActivityReported = event.message
        _, case = await _placed_case(work, message.placement_id)
        kind = placements_pb2.ActivityKind.Name(message.kind).removeprefix("ACTIVITY_KIND_").lower().replace("_", "-")
        await casebook.note(work, case.case_id, f"partner-{kind}", message.activity_id, actor=message.partner_id)
        if case.status != "open":
            return
        today = casebook.business_day(work, case)
        if message.kind == placements_pb2.ACTIVITY_KIND_PROMISE_TO_PAY:
            try:
                promise = PromiseToPay(message.promised_amount.amount_minor, date_from_proto(message.promised_on), today)
                await judgement.take_promise(work, strategy, case, promise, message.partner_id, message.activity_id)
            except (InvalidPromise, ValueError) as error:
                raise Rejected(f"invalid promise from partner: {error}") from None
        elif message.kind in (placements_pb2.ACTIVITY_KIND_DISPUTE, placements_pb2.ACTIVITY_KIND_HARDSHIP):
            hold = "dispute" if message.kind == placements_pb2.ACTIVITY_KIND_DISPUTE else "hardship"
            until = None if hold == "dispute" else today + timedelta(days=strategy.humane.hardship_review_days)
            await casebook.start_hold(work, case, hold, today, until, message.activity_id, actor=message.partner_id)
            await casebook.recall_placements(work, case, hold)

    async def returned(event: Event, work: UnitOfWork) -> None:
        message: placements_pb2.PlacementReturned = event.message
        placement, case = await _placed_case(work, message.placement_id)
        await _status(work, placement.placement_id, "returned")
        await work.connection.execute(update(cases).where(cases.c.case_id == case.case_id)
                                      .values(returned_by_agency=True))
        await casebook.note(work, case.case_id, "placement-returned", f"{message.placement_id} {message.reason}",
                            actor=message.partner_id)

    return {
        type_of(placements_pb2.PlacementAccepted): accepted,
        type_of(placements_pb2.PartnerActivityReported): activity,
        type_of(placements_pb2.PlacementReturned): returned,
    }


def batch_handlers(strategy: Strategy) -> dict[str, BatchHandler]:
    async def placements_recalled(events: Sequence[Event], work: UnitOfWork) -> None:
        """A run of recalls the gateway carried out (a run of cures asks for many at once):
        the placements read with one query, each marked recalled and noted on its case's
        timeline, in order. An unknown placement rejects the run, and then itself alone."""
        wanted = list({event.message.placement_id: None for event in events})
        case_of = {row.placement_id: row.case_id for row in (await work.connection.execute(
            select(placements.c.placement_id, placements.c.case_id)
            .where(placements.c.placement_id.in_(wanted)))).all()}
        notes = []
        for event in events:
            message: placements_pb2.PlacementRecalled = event.message
            if message.placement_id not in case_of:
                raise Rejected(f"unknown placement {message.placement_id!r}")
            notes.append(casebook.timeline_row(case_of[message.placement_id], work.now, "placement-recalled",
                                               f"{message.placement_id} {message.reason}", actor=message.partner_id))
        store = store_of(work.connection)
        await store.set_column(placements, "placement_id", "status", dict.fromkeys(wanted, "recalled"))
        await store.insert(timeline, notes)

    return {type_of(placements_pb2.PlacementRecalled): placements_recalled}
