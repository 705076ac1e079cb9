"""Each command imports only what it uses: proven by the modules a real process loads."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelops.cli import COMMANDS, build_command
from tests.cli.conftest import Cli

ROOT = Path(__file__).resolve().parents[2]
# Heavy, or belonging to other commands: a read command has no use for any of them.
NOT_FOR_READS = (
    "prefect", "alembic", "httpx", "numpy", "scipy", "sklearn", "yaml", "uvicorn",
    "adapters", "dispatch", "flows", "tasks", "gateway", "analysis",
)  # fmt: skip
# Modules of packages a read command does use, that it has no use for on SQLite (~16 ms and
# ~2 ms): SQLAlchemy's PostgreSQL dialect, rich's table of emoji codes.
NOT_FOR_READS_ON_SQLITE = ("sqlalchemy.dialects.postgresql", "rich._emoji_codes")
READ_COMMANDS = [
    ("models", "list"),
    ("models", "show", "support-intent"),
    ("models", "versions", "support-intent"),
    ("models", "history", "support-intent"),
    ("keys", "list"),
    ("approvals", "list"),
    ("endpoints", "list"),
]

# `python -m modelops.cli ARGS`, printing the collector's state as the process ends.
REPORT_COLLECTOR_AT_EXIT = """
import atexit, gc, runpy, sys
atexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count(), file=sys.stderr))
sys.argv[0] = "modelops"
runpy.run_module("modelops.cli", run_name="__main__")
"""


def imported_modules(args: tuple[str, ...], env: dict[str, str]) -> set[str]:
    """Modules a `modelops` process imports, read from `python -X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "modelops.cli", *args],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    from registry.database import make_engine, make_session_factory
    from tests.registry.seed import add_version, seed_model

    engine = make_engine(sqlite_url)
    with make_session_factory(engine).begin() as session:
        add_version(session, seed_model(session, "default"))
    engine.dispose()
    return {"MODELOPS_DATABASE_URL": sqlite_url, "MODELOPS_TEAM": "default"}


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_read_commands_import_no_heavy_or_unrelated_module(
    args: tuple[str, ...], env: dict[str, str]
) -> None:
    modules = imported_modules(args, env)
    assert "sqlalchemy" in modules  # the probe sees real imports
    heavy = sorted(m for m in modules if m.split(".")[0] in NOT_FOR_READS)
    assert heavy == []
    assert sorted(modules & set(NOT_FOR_READS_ON_SQLITE)) == []
    others = {f"modelops.cli.{COMMANDS[name].module.rsplit('.', 1)[1]}" for name in COMMANDS}
    others.discard(COMMANDS[args[0]].module)
    assert sorted(modules & others) == []
    if args[0] == "models":  # the writers' service (and all it imports) is not for reads
        assert "registry.lifecycle" not in modules


def test_the_program_freezes_what_a_command_loaded_and_collects_again_for_its_run(
    env: dict[str, str],
) -> None:
    """The modules loaded are never traversed again (nor at exit); the command's own garbage is."""
    done = subprocess.run(
        [sys.executable, "-c", REPORT_COLLECTOR_AT_EXIT, "models", "list"],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    enabled, frozen = done.stderr.split()
    assert enabled == "True"
    assert int(frozen) > 100_000  # everything imported, SQLAlchemy and pydantic included


def test_main_called_in_process_leaves_the_collector_alone(cli: Cli, env: dict[str, str]) -> None:
    frozen = gc.get_freeze_count()
    assert cli("models", "list", env=env).code == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_top_level_help_lists_every_command_without_importing_any(env: dict[str, str]) -> None:
    modules = imported_modules(("--help",), env)
    assert sorted(m for m in modules if m.endswith("_cmd")) == []
    assert "sqlalchemy" not in modules and "pydantic_settings" not in modules


def test_help_lists_every_command_and_sub_command(cli: Cli) -> None:
    top = cli("--help")
    assert top.code == 0
    for name, entry in COMMANDS.items():
        assert name in top.out and entry.summary[:30] in " ".join(top.out.split())
    models = cli("models", "--help")
    for command in ("list", "show", "versions", "history", "add-version", "stage", "rollback"):
        assert f" {command} " in models.out


def test_the_command_table_names_every_command_module() -> None:
    modules = {p.stem for p in (ROOT / "modelops" / "cli").glob("*_cmd.py")}
    assert {entry.module.rsplit(".", 1)[1] for entry in COMMANDS.values()} == modules
    group = build_command()
    for name in COMMANDS:
        assert group.load(name).name == name
