"""The console's pure parts: amounts, charts, languages, call scripts, ledger filters."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from collections_console.amounts import BadAmount, minor_units, shown
from collections_console.charts import rate_bars, roll_rate_matrix
from collections_console.i18n import choose_language, translations
from collections_console.pages.compliance import PAGE_SIZE, ledger_filters, refusals_by_rule
from collections_console.upstream import UpstreamProblem
from collections_console.scripts import call_script, rule_explained

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from catalogues import msgids  # noqa: E402


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("300", "CNY", 30_000), ("300.10", "CNY", 30_010), ("1,234.5", "CNY", 123_450), ("0.01", "CNY", 1),
    ("5000", "JPY", 5_000), ("1.234", "KWD", 1_234),
])
def test_amounts_become_exact_minor_units(text, currency, minor):
    assert minor_units(text, currency) == minor


@pytest.mark.parametrize("text", ["", "abc", "0", "-5", "1.001", "NaN", "Infinity", "1e400"])
def test_amounts_that_are_not_amounts_are_refused(text):
    with pytest.raises(BadAmount):
        minor_units(text, "CNY")


def test_amounts_are_shown_in_major_units():
    assert shown(123_450, "CNY") == "1,234.50 CNY" and shown(5_000, "JPY") == "5,000 JPY"


def test_the_roll_rate_matrix_shows_every_share_as_text_and_shade():
    svg = roll_rate_matrix("rolls", {"M1": {"accounts": 4, "to": {"M1": 0.25, "M2": 0.5, "cured": 0.25}},
                                     "M2": {"accounts": 1, "to": {"M3": 1.0}}})
    assert svg.startswith("<svg") and "<title>rolls</title>" in svg
    assert svg.count("<rect") == 2 * 4, "one cell per bucket pair, the cured column last"
    assert "50%" in svg and "100%" in svg and "M1 (4)" in svg
    assert svg.index(">M3<") < svg.index(">cured<")


def test_rate_bars_show_unknown_rates_as_a_dash_and_escape_labels():
    svg = rate_bars("kept", [("champion", 0.5), ("<b>", None)])
    assert "50%" in svg and "–" in svg and "&lt;b&gt;" in svg and "<b>" not in svg


@pytest.mark.parametrize(("chosen", "accept", "expected"), [
    ("en", "zh-CN", "en"), (None, "zh-TW,en;q=0.5", "zh-CN"), (None, "en-GB", "en"), (None, "fr", "zh-CN"),
    ("xx", "", "zh-CN"),
])
def test_the_language_is_the_users_choice_then_the_browsers(chosen, accept, expected):
    assert choose_language(chosen, accept, "zh-CN") == expected


def test_every_message_of_the_ui_has_a_chinese_translation():
    chinese = translations("zh-CN")
    untranslated = [m for m in msgids() if chinese.gettext(m) == m]
    assert not untranslated
    assert chinese.gettext("Take next task") == "领取下一个任务"


def test_every_stage_of_the_ladder_has_a_script_with_disclosures_and_consequences():
    for stage in ("reminder", "early", "letter", "field", "agency", "legal"):
        for language in ("zh-CN", "en"):
            script = call_script("CN", stage, language, bank="B", agent="a-1", customer="C-1")
            assert script.disclosures and script.consequences and "a-1" in script.opening, (stage, language)


def test_a_refusal_rule_is_explained_in_the_users_language():
    assert "时段" in rule_explained("CN", "quiet-hours", "zh-CN")
    assert "hours" in rule_explained("CN", "quiet-hours", "en")
    assert rule_explained("CN", "no-such-rule", "en") is None


LEDGER = [{"actor": "bank-agent:alice", "decision": "defer", "rule": "quiet-hours"},
          {"actor": "agency:AG-1:bob", "decision": "block", "rule": "opt-out"},
          {"actor": "bank-agent:alice", "decision": "allow", "rule": None},
          {"actor": None, "decision": "defer", "rule": "quiet-hours"}]
EMPTY_SEARCH = dict.fromkeys(("customer_id", "actor", "agency", "rule", "decision", "since", "partner_id"), "")


def test_blocks_and_deferrals_are_counted_by_rule():
    counts = refusals_by_rule(LEDGER)
    assert counts["defer"]["quiet-hours"] == 2 and counts["block"]["opt-out"] == 1
    assert sum(counts["defer"].values()) + sum(counts["block"].values()) == 3, "allowed contacts are not refusals"


@pytest.mark.parametrize(("fields", "cursor", "query"), [
    ({"actor": "alice"}, "", {"actor": "alice"}),
    ({"agency": "AG-1", "partner_id": "P-1"}, "", {"agency": "AG-1"}),
    ({"rule": "quiet-hours", "decision": "defer"}, "41", {"rule": "quiet-hours", "decision": "defer", "cursor": "41"}),
    ({"since": "2029-03-13"}, "", {"since": "2029-03-13T00:00:00Z"}),
    ({}, "", {}),
])
def test_the_ledger_search_asks_the_notifier_with_only_the_fields_filled_in(fields, cursor, query):
    assert ledger_filters({**EMPTY_SEARCH, **fields}, cursor) == {**query, "limit": str(PAGE_SIZE)}


def test_a_since_that_is_not_a_day_is_refused_before_the_notifier_is_asked():
    with pytest.raises(UpstreamProblem) as refused:
        ledger_filters({**EMPTY_SEARCH, "since": "yesterday"}, "")
    assert refused.value.status == 422
