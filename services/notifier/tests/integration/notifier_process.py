"""The notifier as its own OS process on test-specific input topics, for the
process-level fault tests (NOTIFIER_* settings; TEST_TOPICS: comma-separated)."""

import os

from collections_core.service import configure, serve
from notifier.main import build_runtime, create_app
from notifier.settings import NotifierSettings

if __name__ == "__main__":
    settings = NotifierSettings()
    configure(settings)
    runtime = build_runtime(settings, topics=os.environ["TEST_TOPICS"].split(","))
    serve(create_app(settings, runtime), settings)
