"""modelops/ephemeral_api.py starts Prefect's own server command, only bound to its parent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from prefect.server.api.server import SubprocessASGIServer

from modelops.ephemeral_api import _ServerBoundToParent


def _popen_call(server: SubprocessASGIServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda **kwargs: calls.append(kwargs))
    server._run_uvicorn_command()
    monkeypatch.undo()
    (call,) = calls
    return call


def _unstarted(kind: type[SubprocessASGIServer]) -> SubprocessASGIServer:
    server = object.__new__(kind)  # not the registered singleton: nothing else sees it
    server.port = 8123
    return server


def test_the_command_and_environment_are_prefects_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Guards the copy of Prefect 3.8.8's command: an upgrade that changes it fails here."""
    ours = _unstarted(_ServerBoundToParent)
    assert isinstance(ours, _ServerBoundToParent)
    ours.log_path = tmp_path / "server.log"
    prefects = _popen_call(_unstarted(SubprocessASGIServer), monkeypatch)
    bound = _popen_call(ours, monkeypatch)

    assert bound["args"] == prefects["args"]
    assert bound["env"] == prefects["env"]
    assert set(prefects) == {"args", "env"}
    assert callable(bound["preexec_fn"])  # Linux: the kernel signals the server at our death
    assert bound["stderr"] is subprocess.STDOUT
    assert Path(bound["stdout"].name) == tmp_path / "server.log"  # type: ignore[attr-defined]
