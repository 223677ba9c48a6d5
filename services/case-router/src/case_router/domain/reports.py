"""Portfolio reports as pure arithmetic over counts the database already added up.

- Roll rate: of the accounts in bucket X on the first date, the share in each
  bucket Y on the second (an account cured in between counts as "cured").
- Cure rate per stage: of the cases that reached a stage, the share closed as cured.
- Promise kept rate: of the promises judged, the share kept.
Every figure is reported per strategy variant, so champion and challenger compare.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def roll_rates(moves: Iterable[tuple[str, str, str, int]]) -> dict[str, dict[str, dict[str, dict]]]:
    """(variant, from bucket, to bucket, accounts) → variant → from → {"accounts": n, "to": {to: share}}."""
    counts: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for variant, start, end, accounts in moves:
        counts[variant][start][end] = counts[variant][start].get(end, 0) + accounts
    return {variant: {start: {"accounts": sum(ends.values()),
                              "to": {end: round(n / sum(ends.values()), 4) for end, n in sorted(ends.items())}}
                      for start, ends in sorted(starts.items())}
            for variant, starts in sorted(counts.items())}


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
