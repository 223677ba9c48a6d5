"""Unit tests of the overdue-detector domain: pure, no fixtures beyond the builders' import path."""

import sys
from pathlib import Path

# The suite runs with --import-mode=importlib, which puts no test directory on
# sys.path; the shared table builders (overdue_factories) live next to the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))
