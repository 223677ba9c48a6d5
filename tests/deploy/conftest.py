"""tests/deploy: the deployment files checked with the real tools, offline, plus one
real scrape of the running services. Helpers live in ``deploy_files``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
