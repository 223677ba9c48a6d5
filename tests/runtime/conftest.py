import asyncio
import uuid

import pytest
from local_kafka import create_topic


@pytest.fixture
def topics(kafka):
    """Fresh input, output and dead-letter topics, and a service name, per test."""
    run = uuid.uuid4().hex[:8]
    names = {"input": f"payments.{run}", "output": f"cured.{run}", "service": f"ledger-{run}"}
    names["dlq"] = f"{names['service']}.dlq.v1"
    for key, partitions in (("input", 3), ("output", 3), ("dlq", 1)):
        asyncio.run(create_topic(kafka.bootstrap, names[key], partitions))
    return names
