"""case-router: opens collection cases and decides how each escalates."""
