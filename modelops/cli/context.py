"""Shared plumbing for commands: settings and runtime built once per invocation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from modelops.cli.errors import BadInput
from modelops.runtime import Runtime, open_runtime
from modelops.settings import Settings


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"MODELOPS_{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
            for problem in exc.errors()
        ]
        raise BadInput("invalid configuration:\n" + "\n".join(problems)) from None


@contextmanager
def runtime(*, check_schema: bool = True, create: bool = False) -> Iterator[Runtime]:
    """The runtime of one command; only `create=True` may make a new SQLite database."""
    rt = open_runtime(load_settings(), check_schema=check_schema, create=create)
    try:
        yield rt
    finally:
        rt.close()
