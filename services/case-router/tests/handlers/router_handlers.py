"""The router's handlers as the consumer runs them when it isolates events: each
event alone, a batch handler called with a run of one."""

from case_router.domain.strategy import DEFAULT_STRATEGY, load_strategy
from case_router.handlers import batch_handlers, handlers

STRATEGY = load_strategy(DEFAULT_STRATEGY)


def one_at_a_time(batch_handler):
    async def handle(event, work) -> None:
        await batch_handler([event], work)

    return handle


HANDLERS = {**handlers(STRATEGY), **{kind: one_at_a_time(handle) for kind, handle in batch_handlers(STRATEGY).items()}}
