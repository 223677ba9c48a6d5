"""Handler tests of the case-router on real databases."""

import sys
from pathlib import Path

# --import-mode=importlib puts no test directory on sys.path; the shared helpers live here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
