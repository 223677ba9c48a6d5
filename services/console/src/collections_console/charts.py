"""Charts as inline SVG, drawn from report figures (shares 0..1), no script needed:
the roll-rate matrix as a shaded table of cells and rates as horizontal bars. Every
figure is also written as text in the SVG, so a screen reader reads it."""

from __future__ import annotations

from markupsafe import Markup, escape

CELL, LABEL = 56, 64


def roll_rate_matrix(title: str, rows: dict[str, dict]) -> Markup:
    """rows: from bucket → {"accounts": n, "to": {to bucket: share}} (the router's report)."""
    columns = sorted({end for row in rows.values() for end in row["to"]}, key=lambda b: (b == "cured", b))
    width, height = LABEL + CELL * len(columns), 24 + CELL // 2 * (len(rows) + 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>']
    for n, column in enumerate(columns):
        parts.append(f'<text x="{LABEL + n * CELL + CELL // 2}" y="16" text-anchor="middle">{escape(column)}</text>')
    for r, (start, row) in enumerate(rows.items()):
        y = 24 + r * CELL // 2
        parts.append(f'<text x="4" y="{y + 18}">{escape(start)} ({row["accounts"]})</text>')
        for n, column in enumerate(columns):
            share = row["to"].get(column, 0.0)
            shade = int(255 - 200 * share)
            parts.append(f'<rect x="{LABEL + n * CELL}" y="{y}" width="{CELL - 2}" height="{CELL // 2 - 2}" '
                         f'fill="rgb({shade},{shade},255)"/>'
                         f'<text x="{LABEL + n * CELL + CELL // 2}" y="{y + 18}" text-anchor="middle">'
                         f'{share:.0%}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def rate_bars(title: str, rates: list[tuple[str, float | None]]) -> Markup:
    """One bar per label; a rate that cannot be computed yet (nothing judged) shows as "–"."""
    width, bar = 360, 22
    height = bar * len(rates) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>']
    for n, (label, value) in enumerate(rates):
        y = 2 + n * bar
        length = int(200 * (value or 0))
        parts.append(f'<text x="0" y="{y + 15}">{escape(label)}</text>'
                     f'<rect x="110" y="{y}" width="{length}" height="{bar - 4}" fill="#2b6cb0"/>'
                     f'<text x="{116 + length}" y="{y + 15}">{"–" if value is None else f"{value:.0%}"}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
