"""Flows run in-process against a real Prefect server (on PostgreSQL) and a real registry."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tasks import context
from tests.conftest import DEFAULT_SERVER
from tests.support.prefect_server import PrefectServer, prefect_server


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One Prefect server for the session; the process's Prefect client points at it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server_url = os.environ.get("MODELOPS_TEST_DATABASE_URL", DEFAULT_SERVER)
    with prefect_server(server_url, tmp_path_factory.mktemp("prefect")) as server:
        # Threads start with an empty context and read settings from the environment.
        previous = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = server.api_url
        try:
            with temporary_settings({PREFECT_API_URL: server.api_url}):
                yield server
        finally:
            if previous is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = previous


@pytest.fixture
def registry_env(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point tasks (which read settings once per process) at this test's database."""
    monkeypatch.setenv("MODELOPS_DATABASE_URL", pg_url)
    monkeypatch.setenv("MODELOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MODELOPS_TEAM", "default")
    context.settings.cache_clear()
    context.database.cache_clear()
    yield pg_url  # type: ignore[misc]
    context.database.cache_clear()
    context.settings.cache_clear()


def wait_until(
    condition: Callable[[], object], *, timeout: float = 60, what: str = "condition"
) -> object:
    """Poll `condition` (there is nothing to block on across processes) until truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# The real CLI, in-process, for flows answered from the command line.
from tests.cli.conftest import cli  # noqa: E402, F401
