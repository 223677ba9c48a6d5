"""The run's report: a terminal summary and one self-contained HTML file (inline SVG,
no scripts, no fonts or styles from the network), for a head of collections and a
compliance officer. Every platform figure is shown beside the bank's own count, and
any day where they disagree is listed."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from card_simulator.run import RunResult

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
    return "\n".join(lines)


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
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return summary(result) + f"\nreport: {path}"
