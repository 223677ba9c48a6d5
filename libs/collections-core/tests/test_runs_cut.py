"""How a poll batch is cut into what is handled at once (decision 0013): consecutive
events with the same batch handler are one run, and anything else is a run of its own."""

from collections_core.consumer import runs


# Batch handlers are told apart by identity: any two distinct objects stand for two.
DELINQUENCY_RUN, DAYS = object(), object()
HANDLERS = {"AccountBecameDelinquent": DELINQUENCY_RUN, "DelinquencyUpdated": DELINQUENCY_RUN,
            "BusinessDayClosed": DAYS}


def _cut(types: list[str]) -> list[list[str]]:
    return list(runs(types, HANDLERS.get))


def test_types_sharing_a_batch_handler_share_a_run_and_another_handler_starts_a_new_one():
    assert _cut(["AccountBecameDelinquent", "DelinquencyUpdated", "DelinquencyUpdated", "BusinessDayClosed",
                 "BusinessDayClosed", "DelinquencyUpdated"]) == [
        ["AccountBecameDelinquent", "DelinquencyUpdated", "DelinquencyUpdated"],
        ["BusinessDayClosed", "BusinessDayClosed"], ["DelinquencyUpdated"]]


def test_an_event_without_a_batch_handler_is_alone_and_ends_the_run_before_it():
    assert _cut(["DelinquencyUpdated", "PaymentPosted", "PaymentPosted", "DelinquencyUpdated"]) == [
        ["DelinquencyUpdated"], ["PaymentPosted"], ["PaymentPosted"], ["DelinquencyUpdated"]]
    assert _cut(["PaymentPosted"]) == [["PaymentPosted"]]
    assert _cut([]) == []
