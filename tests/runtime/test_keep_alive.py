"""A server of the platform keeps an idle keep-alive connection longer than a client
keeps one (httpx: 5 s), so no client sends a request on a connection the server is
closing at that instant (decision 0016). With uvicorn's own 5 s such a request failed
with a ReadError: the demo stopped on one from the gateway's partner API."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from collections_core.http import KEEP_ALIVE_SECONDS, SERVER_OPTIONS
from support import free_port

HTTPX_KEEP_ALIVE_SECONDS = httpx.Limits().keepalive_expiry  # what our clients keep an idle connection for


def _local_port(answer: httpx.Response) -> int:
    return answer.extensions["network_stream"].get_extra_info("client_addr")[1]


@pytest.mark.integration
async def test_a_connection_idle_as_long_as_a_client_keeps_one_is_still_open_at_the_server():
    assert KEEP_ALIVE_SECONDS > HTTPX_KEEP_ALIVE_SECONDS
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict:
        return {"pong": True}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **SERVER_OPTIONS))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        # The client keeps its connection longer than ours do, to see whether the server closed it.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     limits=httpx.Limits(keepalive_expiry=60)) as client:
            first = await client.get("/ping")
            first_port = _local_port(first)
            await asyncio.sleep(HTTPX_KEEP_ALIVE_SECONDS + 1)
            second = await client.get("/ping")
            second_port = _local_port(second)
        assert first.status_code == second.status_code == 200
        assert second_port == first_port, "the server closed the idle connection: the client opened another"
    finally:
        server.should_exit = True
        await serving
