from collections_core.migrations import RUNTIME_VERSION_TABLE, run_env
from collections_core.storage import metadata

run_env(metadata, version_table=RUNTIME_VERSION_TABLE)
