"""Pure domain of the case-router: the strategy, the day's decision, holds, promises,
plans and credit reporting. No I/O, clocks, messaging or storage here."""
