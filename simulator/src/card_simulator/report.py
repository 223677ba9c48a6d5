"""The run's report: a terminal summary and one self-contained HTML file (inline SVG,
no scripts, no fonts or styles from the network), for a head of collections and a
compliance officer. Every platform figure is shown beside the bank's own count, and
any day where they disagree is listed."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from card_simulator.run import RunResult

CHANNELS = ("sms", "email", "letter")
BUCKETS = ("M1", "M2", "M3", "M4", "M5", "M6", "M7+")
COLOURS = ("#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b", "#252525")


def _bucket_chart(result: RunResult, width: int = 760, height: int = 260) -> str:
    """Delinquent accounts per bucket over the run, stacked."""
    days = result.days_run
    if not days:
        return "<p>No business day was run.</p>"
    top = max(1, max(sum(d.platform_buckets.values()) for d in days))
    left, bottom = 48, 24
    plot_w, plot_h = width - left - 8, height - bottom - 8

    def x(i: int) -> float:
        return left + (plot_w * i / max(1, len(days) - 1))

    def y(value: float) -> float:
        return 8 + plot_h - plot_h * value / top

    layers = []
    below = [0] * len(days)
    for bucket, colour in zip(BUCKETS, COLOURS, strict=True):
        above = [b + d.platform_buckets.get(bucket, 0) for b, d in zip(below, days, strict=True)]
        points = [f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(above)]
        points += [f"{x(i):.1f},{y(v):.1f}" for i, v in reversed(list(enumerate(below)))]
        layers.append(f'<polygon points="{" ".join(points)}" fill="{colour}"><title>{bucket}</title></polygon>')
        below = above
    ticks = "".join(
        f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>'
        f'<line x1="{left}" x2="{width - 8}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
        for v in (0, top // 2, top))
    labels = (f'<text x="{left}" y="{height - 6}">{days[0].business_date}</text>'
              f'<text x="{width - 8}" y="{height - 6}" text-anchor="end">{days[-1].business_date}</text>')
    legend = "".join(f'<span class="key" style="background:{c}"></span>{b} ' for b, c in zip(BUCKETS, COLOURS,
                                                                                          strict=True))
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="Delinquent accounts per bucket over time" font-size="11">{ticks}{"".join(layers)}'
            f'{labels}</svg><p class="legend">{legend}</p>')


def _rows(cells: list[list[object]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in cells)


def summary(result: RunResult) -> str:
    last = result.days_run[-1] if result.days_run else None
    lines = [
        f"card-collections demo: {result.accounts} accounts x {result.days} business days, seed {result.seed}, "
        f"{result.database}, {result.seconds:.0f} s",
        f"events published by core banking: {sum(result.events_published.values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(result.events_published.items()))})",
    ]
    if last is not None:
        lines.append(f"delinquent on {last.business_date}: "
                     + ", ".join(f"{b} {last.platform_buckets.get(b, 0)}" for b in BUCKETS)
                     + f"; charged off {last.charged_off}")
    lines.append("recovered from delinquent accounts: "
                 + ", ".join(f"{amount / 100:,.2f} {currency}" for currency, amount
                             in sorted(result.recovered_minor.items())))
    mismatched = result.mismatched_days
    lines.append(f"cross-check, detector vs the bank's own book: "
                 f"{len(result.days_run) - len(mismatched)}/{len(result.days_run)} days agree")
    figures = result.platform
    if figures is not None:
        lines.append("reached customers (stand-ins' logs): "
                     + ", ".join(f"{c} {result.delivered.get(c, 0)}" for c in CHANNELS)
                     + f"; STOP replies {result.stop_replies}")
        desk = result.desk
        lines.append(f"agents: {desk.claimed} tasks claimed, calls " + ", ".join(
            f"{k} {n}" for k, n in sorted(desk.calls.items())) + f"; promises {desk.promises}, "
            f"hardship {desk.hardships}, plans {desk.plans}, disputes {desk.disputes}")
        lines.append("policy decisions: " + ", ".join(f"{d} {r} {n}"
                                                        for (d, r), n in sorted(figures.decisions.items())))
        requested, listed = figures.placements_requested, figures.placements_listed
        lines.append(f"placements with agencies: {listed.get('agency', 0)} (the router requested "
                     f"{requested.get('agency', 0)}); legal referrals to the law firm: {listed.get('legal', 0)} "
                     f"(the router requested {requested.get('legal', 0)})")
        agree = sum(ok for _, _, _, ok in cross_checks(result))
        lines.append(f"cross-checks, simulator vs the services' APIs and metrics: "
                     f"{agree}/{len(cross_checks(result))} agree")
        lines.append(f"compliance audit: {figures.audited_contacts} contacts checked, "
                     f"{len(figures.violations)} violations")
    return "\n".join(lines)


def cross_checks(result: RunResult) -> list[tuple[str, int, int, bool]]:
    """What the simulator saw beside what the platform says: (what, simulator, platform, agree)."""
    figures = result.platform
    if figures is None:
        return []
    checks = [(f"{channel} reaching customers vs allowed attempts in the notifier's ledger",
               result.delivered.get(channel, 0), figures.ledger_attempts.get(channel, 0)) for channel in CHANNELS]
    checks += [
        ("SMS at the provider vs delivery receipts the notifier counted",
         result.delivered.get("sms", 0), figures.contacts.get(("sms", "delivered"), 0)),
        ("e-mails at the SMTP sink vs e-mails the notifier counted sent",
         result.delivered.get("email", 0), figures.contacts.get(("email", "sent"), 0)),
        ("customers on a number that replied STOP vs customers opted out of SMS per the notifier",
         result.customers_stopped, figures.opt_outs),
        ("agency placements the router requested vs those the agencies list at the gateway",
         figures.placements_requested.get("agency", 0), figures.placements_listed.get("agency", 0)),
        ("legal referrals the router requested vs those the law firm lists at the gateway",
         figures.placements_requested.get("legal", 0), figures.placements_listed.get("legal", 0)),
        ("promises agents and partners took vs promises the router judged or holds",
         result.desk.promises + sum(p.promises for p in result.agencies.values()),
         sum(n["kept"] + n["broken"] + n["active"] for n in figures.promise_kept.get("variants", {}).values())),
    ]
    calls = dict(result.desk.calls)
    for partner in result.agencies.values():
        for outcome, n in partner.calls.items():
            calls[outcome] = calls.get(outcome, 0) + n
    checks += [(f"agents' and partners' calls ending {outcome} vs the notifier's call outcomes", n,
                figures.contacts.get(("call", outcome), 0)) for outcome, n in sorted(calls.items())]
    return [(what, mine, theirs, mine == theirs) for what, mine, theirs in checks]


def _table(head: list[str], cells: list[list[object]], empty: str = "none in this run") -> str:
    if not cells:
        return f"<p><em>{escape(empty)}</em></p>"
    return ("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>" + _rows(cells) + "</table>")


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _bars(counts: dict[str, int], width: int = 520) -> str:
    """A horizontal bar per label, inline SVG."""
    if not counts:
        return ""
    top, row = max(counts.values()) or 1, 18
    bars = "".join(
        f'<text x="0" y="{i * row + 13}">{escape(label)}</text>'
        f'<rect x="200" y="{i * row + 3}" width="{(width - 260) * n / top:.1f}" height="12" fill="#4292c6"/>'
        f'<text x="{205 + (width - 260) * n / top:.1f}" y="{i * row + 13}">{n}</text>'
        for i, (label, n) in enumerate(sorted(counts.items())))
    return (f'<svg viewBox="0 0 {width} {row * len(counts) + 4}" width="{width}" height="{row * len(counts) + 4}" '
            f'role="img" font-size="11">{bars}</svg>')


def _platform_sections(result: RunResult) -> str:
    figures = result.platform
    if figures is None:
        return ""
    roll_rows = []
    for variant, starts in figures.roll_rates.get("variants", {}).items():
        for start, moved in starts.items():
            roll_rows.append([variant, start, moved["accounts"],
                              ", ".join(f"{end} {share:.0%}" for end, share in moved["to"].items())])
    cure_rows = [[variant, stage, n["cases"], n["cured"], _share(n["cure_rate"])]
                 for variant, stages in figures.cure_rates.get("variants", {}).items() for stage, n in stages.items()]
    promise_rows = [[variant, n["kept"], n["broken"], n["active"], _share(n["kept_rate"])]
                    for variant, n in figures.promise_kept.get("variants", {}).items()]
    contact_rows = [[channel, outcome, n] for (channel, outcome), n in sorted(figures.contacts.items())]
    rule_rows = [[decision, rule, n] for (decision, rule), n in sorted(figures.decisions.items())
                 if decision != "allow"]
    league = {}
    for (partner, state), n in figures.placements.items():
        league.setdefault(partner, {})[state] = n
    for partner in result.agencies:
        league.setdefault(partner, {})
    league_rows = []
    for partner, states in sorted(league.items()):
        worked = result.agencies.get(partner)
        calls = sum(worked.calls.values()) if worked else 0
        reached = worked.calls.get("conversation", 0) if worked else 0
        league_rows.append([partner, ", ".join(f"{s} {n}" for s, n in sorted(states.items())) or "none",
                            worked.acknowledged if worked else 0, calls, _share(reached / calls if calls else None),
                            worked.promises if worked else 0, worked.returned if worked else 0])
    timeline = figures.timeline_entries
    checks = cross_checks(result)
    violations = [[v.rule, v.customer_id, v.request_id, v.at.isoformat(), v.detail] for v in figures.violations[:200]]
    audit_class = "ok" if not figures.violations else "bad"
    return f"""
<h2>Roll rates</h2>
<p>Accounts per bucket on {escape(str(figures.roll_rates.get("from", "")))} and where they were on
{escape(str(figures.roll_rates.get("to", "")))} (case-router <code>GET /v1/reports/roll-rates</code>).</p>
{_table(["variant", "from", "accounts", "to"], roll_rows)}
<h2>Cure rate by stage reached</h2>
{_table(["variant", "stage", "cases", "cured", "cure rate"], cure_rows)}
<h2>Contacts by channel and outcome</h2>
<p>From the notifier's <code>notifier_contacts_total</code>.</p>
{_bars({f"{c} {o}": n for (c, o), n in figures.contacts.items()})}
{_table(["channel", "outcome", "contacts"], contact_rows)}
<h2>Deferrals and blocks by rule</h2>
{_table(["decision", "rule", "contacts"], rule_rows)}
<h2>The bank's agents at the desk</h2>
<p>Tasks claimed {result.desk.claimed}; call permits asked by decision:
{escape(", ".join(f"{k} {n}" for k, n in sorted(result.desk.permits.items())) or "none")}; calls by outcome:
{escape(", ".join(f"{k} {n}" for k, n in sorted(result.desk.calls.items())) or "none")}; promises taken
{result.desk.promises}, hardship reviews {result.desk.hardships}, plans agreed {result.desk.plans},
disputes {result.desk.disputes}.</p>
<h2>Promises and plans</h2>
{_table(["variant", "kept", "broken", "active", "kept rate"], promise_rows)}
<p>Holds started (<code>router_holds_started_total</code>): {escape(", ".join(f"{k} {n}" for k, n in
sorted(figures.holds_started.items())) or "none")}.</p>
<h2>Agency league table</h2>
<p>Placements per partner and state (<code>gateway_placements</code>), beside what each partner did
through the partner API in the simulation.</p>
{_table(["partner", "placements by state", "acknowledged", "calls", "reached", "promises", "returned"],
        league_rows)}
<h2>Legal referrals and credit-bureau reports</h2>
<p>Legal referrals (the legal stage: the law firm) apart from agency placements, as the partners list
them through the gateway's partner API, beside what the router's case timelines requested:</p>
{_table(["placement", "at the gateway", "requested by the router"],
        [[kind, figures.placements_listed.get(kind, 0), figures.placements_requested.get(kind, 0)]
         for kind in ("agency", "legal")])}
<p>From the cases' timelines: credit-bureau reports requested {timeline.get("credit-report-requested", 0)};
open cases by stage: {escape(", ".join(f"{k} {n}" for k, n in sorted(figures.open_cases.items())) or "none")}.</p>
<h2>Cross-checks</h2>
{_table(["what", "simulator saw", "platform says", "agree"],
        [[w, a, b, "yes" if ok else "NO"] for w, a, b, ok in checks])}
<h2>Compliance audit</h2>
<p class="{audit_class}">{figures.audited_contacts} contacts that reached customers (stand-ins' logs) checked against
the notifier's ledger and the pack's rules (hours in the customer's local time, daily caps, opt-outs,
holds, no bureau report without a delivered pre-notice): {len(figures.violations)} violations.</p>
{_table(["rule", "customer", "request", "at", "detail"], violations, "no violation")}
"""


def write_report(result: RunResult, path: Path) -> str:
    """Write the HTML report to ``path``; returns the terminal summary."""
    last = result.days_run[-1] if result.days_run else None
    final = [[b, last.platform_buckets.get(b, 0), last.bank_buckets.get(b, 0)] for b in BUCKETS] if last else []
    mismatches = [[d.business_date, d.platform_buckets, d.bank_buckets] for d in result.mismatched_days[:50]]
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>card-collections demo report</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 52em; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }} td, th {{ border: 1px solid #ccc; padding: .2em .6em; }}
th {{ background: #f3f3f3; text-align: left; }} .key {{ display: inline-block; width: 1em; height: 1em;
margin: 0 .2em 0 .8em; vertical-align: middle; }} .ok {{ color: #1a7f37; }} .bad {{ color: #b42318; }}
</style></head><body>
<h1>card-collections: simulated run</h1>
<p>{result.accounts} accounts, {result.days} business days, seed {result.seed}, {escape(result.database)};
ran in {result.seconds:.0f} s; written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>
<h2>Delinquency over time</h2>
<p>Accounts past due per bucket at each business day's close, as the overdue-detector reports them
(<code>GET /v1/portfolio</code>).</p>
{_bucket_chart(result)}
<h2>Final distribution</h2>
<table><tr><th>bucket</th><th>platform</th><th>bank's own book</th></tr>{_rows(final)}</table>
<p>Charged off: {last.charged_off if last else 0}.</p>
<h2>Core-banking events</h2>
<table><tr><th>event</th><th>published</th></tr>{_rows(sorted(result.events_published.items()))}</table>
<h2>Recoveries</h2>
<table><tr><th>currency</th><th>paid by delinquent accounts</th></tr>
{_rows([[c, f"{a / 100:,.2f}"] for c, a in sorted(result.recovered_minor.items())])}</table>
<h2>Cross-check</h2>
<p class="{'ok' if not mismatches else 'bad'}">{len(result.days_run) - len(result.mismatched_days)} of
{len(result.days_run)} days: the detector's buckets equal the bank's own count.</p>
{'<table><tr><th>day</th><th>platform</th><th>bank</th></tr>' + _rows(mismatches) + '</table>' if mismatches else ''}
{_platform_sections(result)}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return summary(result) + f"\nreport: {path}"
