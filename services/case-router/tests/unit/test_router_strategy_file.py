"""The strategy file: the default ladder loads, and every mistake names file, line and field."""

import pytest

from case_router.domain.strategy import DEFAULT_STRATEGY, StrategyError, load_strategy, parse_strategy

VALID_HEAD = "id: s\nversion: 1\n"


def test_the_default_strategy_is_valid_and_has_the_whole_ladder():
    strategy = load_strategy(DEFAULT_STRATEGY)
    assert {r.stage for r in strategy.rules} == {"reminder", "early", "letter", "field", "agency", "legal"}
    assert [v.name for v in strategy.variants] == ["champion", "challenger"]


@pytest.mark.parametrize(("text", "expected"), [
    (VALID_HEAD + "rules:\n  - id: a\n    stage: field\n    actions:\n      - {kind: field-visit, collectors: 1}\n",
     "bad.yaml:7: rules[0].actions[0].collectors: Input should be greater than or equal to 2"),
    (VALID_HEAD + "rules:\n  - id: a\n    stage: nowhere\n",
     "bad.yaml:5: rules[0].stage: Input should be"),
    (VALID_HEAD + "rules:\n  - id: a\n    stage: early\n  - id: a\n    stage: early\n",
     "bad.yaml:6: rules[1].id: rule id 'a' is used twice"),
    (VALID_HEAD + "rules:\n  - id: a\n    stage: early\n    when: {dpd: {min: 9, max: 3}}\n",
     "bad.yaml:6: rules[0].when.dpd: min 9 is above max 3"),
    (VALID_HEAD + "rules:\n  - id: a\n    stage: early\n    when: {variants: [ghost]}\n",
     "bad.yaml:6: rules[0].when.variants: unknown variants ['ghost']"),
    (VALID_HEAD + "rules:\n  - id: a\n    stage: early\n    actions:\n      - {kind: contact, channel: pigeon, template: t}\n",
     "bad.yaml:7: rules[0].actions[0].channel: Input should be"),
    (VALID_HEAD + "rules:\n  - id: a\n    stage: early\n    actions:\n      - {kind: teleport}\n",
     "bad.yaml:7: rules[0].actions[0]: Input tag 'teleport'"),
    (VALID_HEAD + "rules:\n  - id: a\n    stage: early\n    when: {dpd_typo: {min: 1}}\n",
     "bad.yaml:6: rules[0].when.dpd_typo: Extra inputs are not permitted"),
    ("version: 1\nrules:\n  - id: a\n    stage: early\n", "bad.yaml:1: id: Field required"),
    ("id: s\nversion: 1\nrules: [\n", "bad.yaml:4: (syntax)"),
    ("- just\n- a list\n", "bad.yaml:1: (document)"),
])
def test_a_mistake_is_reported_with_file_line_and_field(text, expected):
    with pytest.raises(StrategyError) as raised:
        parse_strategy(text, "bad.yaml")
    assert any(p.startswith(expected) for p in raised.value.problems), raised.value.problems


def test_variant_split_is_stable_and_follows_the_weights():
    strategy = load_strategy(DEFAULT_STRATEGY)
    accounts = [f"A-{n}" for n in range(4000)]
    first = [strategy.variant_of(a) for a in accounts]
    reloaded = load_strategy(DEFAULT_STRATEGY)
    assert first == [reloaded.variant_of(a) for a in accounts]
    challengers = first.count("challenger") / len(accounts)
    assert 0.07 < challengers < 0.13, "a 90/10 split"
