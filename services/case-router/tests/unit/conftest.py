"""Unit tests of the case-router domain: pure, no I/O."""

import sys
from pathlib import Path

# --import-mode=importlib puts no test directory on sys.path; the fact builders live here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
