"""`modelops gateway`: serve the gateway with uvicorn (httptools and uvloop when installed),
or with granian (`--server granian`: HTTP parsed in Rust, the same ASGI app on uvloop).

SIGTERM or Ctrl-C stops accepting connections, lets requests in flight finish (up to
`GRACE_SECONDS`), then runs the app's shutdown: caches stop listening, outcomes are flushed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from modelops.cli.context import load_settings, runtime

GRACE_SECONDS = 30
FACTORY = "modelops.cli.gateway_cmd:app_from_environment"


class Server(StrEnum):
    UVICORN = "uvicorn"
    GRANIAN = "granian"


def gateway(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, max=64, help="Worker processes (each its own caches)."),
    ] = 1,
    server: Annotated[
        Server, typer.Option("--server", help="HTTP server: uvicorn or granian.")
    ] = Server.UVICORN,
) -> None:
    """Serve the HTTP API (OpenAI-compatible chat, invoke, resolve, outcomes, /metrics)."""
    with runtime():  # bad configuration or an old schema fails here, before any worker starts
        pass
    if server is Server.GRANIAN:
        _granian(host, port, workers)
        return
    import uvicorn

    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="auto",
        http="auto",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )


def _granian(host: str, port: int, workers: int) -> None:
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server as Granian

    Granian(
        FACTORY,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        websockets=False,
        log_level=LogLevels.warning,
        workers_kill_timeout=GRACE_SECONDS,
    ).serve()


def app_from_environment() -> object:
    """What each worker runs: the app for the settings in its environment."""
    from gateway.app import create_app

    return create_app(load_settings())
