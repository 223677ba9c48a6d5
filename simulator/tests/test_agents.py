"""What a customer says when an agent's call connects: by segment, and seeded."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from card_simulator.agents import conversation
from card_simulator.population import Segment, generate

DAYS = [date(2027, 3, 1) + timedelta(days=n) for n in range(60)]


def talks(segment: Segment, seed: int = 3):
    account = replace(generate(seed, 1)[0], segment=segment)
    return [conversation(account, seed, day) for day in DAYS]


def test_the_same_seed_answers_the_same_way_and_another_seed_differently():
    assert talks(Segment.PROMISES_KEPT) == talks(Segment.PROMISES_KEPT)
    assert talks(Segment.PROMISES_KEPT) != talks(Segment.PROMISES_KEPT, seed=4)


def test_each_segment_agrees_to_what_it_does_when_the_call_connects():
    for segment, agreed in [(Segment.PROMISES_KEPT, "promise"), (Segment.PROMISES_BROKEN, "promise"),
                            (Segment.HARDSHIP, "hardship"), (Segment.DISPUTES, "dispute")]:
        answered = [t for t in talks(segment) if t.permit_outcome == "conversation"]
        assert answered and {t.agreed for t in answered} == {agreed}, segment
        assert {t.task_outcome for t in answered} == {"right-party-contact"}


def test_a_never_paying_customer_mostly_does_not_answer_and_never_agrees():
    never = talks(Segment.NEVER_PAYS)
    assert sum(t.permit_outcome == "no-answer" for t in never) > len(never) // 2
    assert {t.agreed for t in never} == {""}
