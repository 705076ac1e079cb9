"""Run the real `modelops` CLI in-process against a real database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from modelops.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Call `cli("models", "list", env={...})`; returns exit code and output."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        if stdin is not None:
            import io

            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err, captured.err
        return Result(code, captured.out, captured.err)

    return run
