"""The report keeps legal referrals (the law firm) apart from agency placements, and its
cross-checks compare each with what the router requested."""

from __future__ import annotations

from datetime import date

from card_simulator.figures import PlatformFigures
from card_simulator.report import cross_checks, write_report
from card_simulator.run import DaySnapshot, RunResult


def _result(requested: dict[str, int], listed: dict[str, int]) -> RunResult:
    figures = PlatformFigures(contacts={}, decisions={}, open_cases={"legal": 2, "agency": 5}, closed_cases={},
                              holds_started={}, placements={("eastlake-law", "placed"): 2,
                                                            ("swift-recovery", "placed"): 5},
                              cure_rates={}, promise_kept={}, roll_rates={},
                              placements_requested=requested, placements_listed=listed)
    return RunResult(accounts=10, days=1, seed=1, database="sqlite", platform=figures,
                     days_run=[DaySnapshot(date(2027, 1, 4), {"M4": 7}, {"M4": 7}, 0)])


def test_legal_referrals_are_counted_apart_from_agency_placements(tmp_path):
    result = _result({"agency": 5, "legal": 2}, {"agency": 5, "legal": 2})
    summary = write_report(result, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")

    assert "placements with agencies: 5 (the router requested 5); legal referrals to the law firm: 2" in summary
    assert "<td>agency</td><td>5</td><td>5</td>" in html and "<td>legal</td><td>2</td><td>2</td>" in html
    checks = {what: (mine, theirs, ok) for what, mine, theirs, ok in cross_checks(result)}
    assert checks["legal referrals the router requested vs those the law firm lists at the gateway"] == (2, 2, True)


def test_a_legal_referral_the_gateway_does_not_list_fails_its_cross_check():
    result = _result({"agency": 5, "legal": 3}, {"agency": 5, "legal": 2})
    failing = [what for what, _, _, ok in cross_checks(result) if not ok]
    assert failing == ["legal referrals the router requested vs those the law firm lists at the gateway"]
