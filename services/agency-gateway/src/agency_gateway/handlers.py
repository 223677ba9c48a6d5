"""Walking skeleton: record each requested placement. Partner selection, OAuth,
webhooks and recalls belong to the agency-gateway issue."""

from __future__ import annotations

from sqlalchemy import insert, select

from agency_gateway.tables import placements
from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import instant_from_proto


async def placement_requested(event: Event, work: UnitOfWork) -> None:
    message: placements_pb2.PlacementRequested = event.message
    if not message.placement_id or not message.account_id:
        raise Rejected("PlacementRequested needs placement_id and account_id")
    if message.kind == placements_pb2.PLACEMENT_KIND_UNSPECIFIED:
        raise Rejected("PlacementRequested needs a kind (agency or legal)")
    known = (await work.connection.execute(
        select(placements.c.placement_id).where(placements.c.placement_id == message.placement_id))).first()
    if known:
        return
    await work.connection.execute(insert(placements).values(
        placement_id=message.placement_id, case_id=message.case_id, account_id=message.account_id,
        kind=placements_pb2.PlacementKind.Name(message.kind).removeprefix("PLACEMENT_KIND_").lower(),
        amount_minor=message.amount.amount_minor, currency=message.amount.currency, dpd=message.dpd,
        status="requested",
        requested_at=instant_from_proto(message.requested_at) if message.HasField("requested_at")
        else work.clock.now()))


HANDLERS = {type_of(placements_pb2.PlacementRequested): placement_requested}
TOPICS = ["collections.placements.v1"]
