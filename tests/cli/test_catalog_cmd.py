"""`modelops catalog validate|sync|list` as a user runs them, against a real database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry.database import make_engine, make_session_factory
from registry.stages import Stage
from registry.teams import TeamRepository
from tests.cli.conftest import Cli
from tests.registry.seed import add_version, advance, promote_with_approval
from tests.registry.test_catalog_support import (
    copy_example_catalog,
    model_doc,
    provider_doc,
    row_counts,
    snapshot,
    write,
)

MODEL_FILE = "models/support-intent.yaml"
ALL_CATEGORIES = (
    "chat, classification, text-to-image, image-to-image, text-to-video, image-to-video, "
    "audio-to-video, storyboard-to-video, text-to-music, speech-to-text, text-to-speech"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return copy_example_catalog(tmp_path / "catalog")


@pytest.fixture
def env(pg_url: str, root: Path) -> dict[str, str]:
    return {
        "MODELOPS_DATABASE_URL": pg_url,
        "MODELOPS_CATALOG_DIR": str(root),
        "MODELOPS_TEAM": "default",
    }


def test_validate_accepts_the_example_catalog_without_a_database(cli: Cli, root: Path) -> None:
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = cli(
        "catalog",
        "validate",
        env={"MODELOPS_CATALOG_DIR": str(root), "MODELOPS_DATABASE_URL": unreachable},
    )
    assert (result.code, result.out.split(" (")[0]) == (0, "catalog OK: 3 providers, 1 model")
    as_json = cli("catalog", "validate", "--json")
    assert json.loads(as_json.out) == {"ok": True, "providers": 3, "models": 1}


def test_validate_lists_every_problem_one_per_line_and_exits_2(cli: Cli, root: Path) -> None:
    write(root, MODEL_FILE, model_doc(provider="nope", category="video"))
    result = cli("catalog", "validate", env={"MODELOPS_CATALOG_DIR": str(root)})
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: catalog {root} has 2 problems:",
        f"{MODEL_FILE}: provider: unknown provider 'nope'; known providers: anthropic, local, openai",
        f"{MODEL_FILE}: category: 'video' is not a known category; allowed: {ALL_CATEGORIES}",
    ]


def test_validate_json_reports_problems_with_file_field_and_message(cli: Cli, root: Path) -> None:
    write(root, MODEL_FILE, model_doc(category="video"))
    result = cli("catalog", "validate", "--json", env={"MODELOPS_CATALOG_DIR": str(root)})
    assert result.code == 2
    assert json.loads(result.out) == {
        "ok": False,
        "problems": [
            {
                "file": MODEL_FILE,
                "field": "category",
                "message": f"'video' is not a known category; allowed: {ALL_CATEGORIES}",
            }
        ],
    }


def test_a_missing_catalog_directory_names_the_setting(cli: Cli, tmp_path: Path) -> None:
    result = cli("catalog", "sync", env={"MODELOPS_CATALOG_DIR": str(tmp_path / "none")})
    assert result.code == 2
    assert result.err.strip() == (
        f"error: catalog directory {tmp_path / 'none'} not found; set MODELOPS_CATALOG_DIR "
        "to the directory holding providers/ and models/"
    )


def test_sync_prints_each_change_then_no_changes(cli: Cli, env: dict[str, str]) -> None:
    first = cli("catalog", "sync", env=env)
    assert first.code == 0, first.err
    assert first.out.splitlines() == [
        "provider anthropic: create",
        "provider local: create",
        "provider openai: create",
        "model default/support-intent: create",
        "price default/support-intent from 2026-01-01T00:00:00+00:00, all versions: create",
        "catalog synced: 5 created",
    ]
    second = cli("catalog", "sync")
    assert (
        second.out.strip() == "no changes: the database matches the catalog (3 providers, 1 model)"
    )


def test_sync_json_lists_every_provider_and_model_with_its_action(
    cli: Cli, env: dict[str, str], root: Path
) -> None:
    cli("catalog", "sync", env=env)
    write(root, MODEL_FILE, model_doc(description="Routes tickets"))
    (root / "providers/anthropic.yaml").unlink()
    result = cli("catalog", "sync", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == [
        {"kind": "provider", "name": "local", "team": None, "action": "unchanged", "changes": []},
        {"kind": "provider", "name": "openai", "team": None, "action": "unchanged", "changes": []},
        {"kind": "provider", "name": "anthropic", "team": None, "action": "retire", "changes": []},
        {
            "kind": "model",
            "name": "support-intent",
            "team": "default",
            "action": "update",
            # model_doc has neither the example's policy, its rollout fields nor its alert rules.
            "changes": ["description", "policy", "rollout", "alerts"],
        },
    ]


def test_dry_run_prints_the_plan_and_writes_nothing(
    cli: Cli, env: dict[str, str], pg_url: str
) -> None:
    result = cli("catalog", "sync", "--dry-run", env=env)
    assert result.code == 0, result.err
    assert "model default/support-intent: would create" in result.out
    assert "dry run, nothing written; the sync would do: 5 create" in result.out
    assert row_counts(pg_url) == {"teams": 0, "providers": 0, "models": 0}
    as_json = json.loads(cli("catalog", "sync", "--dry-run", "--json").out)
    assert {change["action"] for change in as_json} == {"create"}
    assert row_counts(pg_url) == {"teams": 0, "providers": 0, "models": 0}


def _break(root: Path, case: str) -> None:
    """Damage the example catalog in one way."""
    model_edits: dict[str, dict[str, Any]] = {
        "unknown provider": {"provider": "nope"},
        "unknown category": {"category": "video"},
        "typo'd key": {"descripton": "x"},
        "bad steps": {"rollout": {"strategy": "canary", "steps": [50, 25, 100]}},
        "bad accuracy": {"policy": {"staging": {"gates": {"min_accuracy": 1.2}}}},
    }
    if case in model_edits:
        write(root, MODEL_FILE, model_doc(**model_edits[case]))
    elif case == "duplicate model":
        write(root, "models/support-intent.yml", model_doc())
    elif case == "duplicate provider":
        write(root, "providers/local.yml", provider_doc())
    elif case == "unknown kind":
        write(root, "providers/local.yaml", provider_doc(kind="vllm"))
    elif case == "misnamed file":
        write(root, "providers/oai.yaml", provider_doc("gpt", "openai"))
    elif case == "yaml syntax":
        write(root, "providers/local.yaml", "name: local\n kind: [local\n")
    elif case == "empty file":
        write(root, "providers/local.yaml", "")
    elif case == "nul byte":
        write(root, MODEL_FILE, model_doc(description="routes\x00tickets"))
    elif case == "escape sequence":
        write(root, "providers/local.yaml", provider_doc(options={"prompt": "\x1b[2J"}))


BROKEN = [
    ("unknown provider", f"{MODEL_FILE}: provider: unknown provider 'nope'; "
     "known providers: anthropic, local, openai"),
    ("unknown category", f"{MODEL_FILE}: category: 'video' is not a known category; "
     f"allowed: {ALL_CATEGORIES}"),
    ("duplicate model", "models/support-intent.yml: name: model 'support-intent' is defined "
     "twice: in models/support-intent.yaml and in models/support-intent.yml"),
    ("duplicate provider", "providers/local.yml: name: provider 'local' is defined twice: "
     "in providers/local.yaml and in providers/local.yml"),
    ("unknown kind", "providers/local.yaml: kind: 'vllm' is not a known provider kind; "
     "allowed: local, openai, anthropic, asyncgen"),
    ("typo'd key", f"{MODEL_FILE}: descripton: unknown field 'descripton' (did you mean "
     "'description'?); allowed fields: name, team, provider, base_model, category, "
     "description, cost, policy, rollout"),
    ("bad steps", f"{MODEL_FILE}: rollout.steps: steps must increase strictly (got [50, 25, 100])"),
    ("bad accuracy", f"{MODEL_FILE}: policy.staging.gates.min_accuracy: "
     "Input should be less than or equal to 1 (got 1.2)"),
    ("misnamed file", "providers/oai.yaml: name: 'gpt' does not match the file name"),
    ("yaml syntax", "providers/local.yaml: YAML syntax error at line 2, column 6"),
    ("empty file", "providers/local.yaml: file is empty"),
    ("nul byte", f"{MODEL_FILE}: description: contains the control character \\x00 at position 6"),
    ("escape sequence", "providers/local.yaml: options: prompt: contains the control character "
     "\\x1b at position 0"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "message"), BROKEN, ids=[case for case, _ in BROKEN])
def test_each_catalog_error_exits_2_with_its_message_and_writes_nothing(
    cli: Cli, env: dict[str, str], root: Path, pg_url: str, case: str, message: str
) -> None:
    assert cli("catalog", "sync", env=env).code == 0
    before = snapshot(pg_url)
    _break(root, case)
    result = cli("catalog", "sync")
    assert result.code == 2
    assert result.err.startswith(f"error: catalog {root} has 1 problem; nothing was written:\n")
    assert message in result.err
    assert "\x1b" not in result.err and "INSERT" not in result.err
    assert result.out == ""
    assert snapshot(pg_url) == before


def test_list_shows_the_teams_models_with_their_production_version(
    cli: Cli, env: dict[str, str], pg_url: str
) -> None:
    cli("catalog", "sync", env=env)
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        team = TeamRepository(session).ensure("default")
        version = add_version(session, team)
        advance(session, team, version, Stage.STAGING)
        promote_with_approval(session, team, version)
    engine.dispose()
    result = cli("catalog", "list", "--json")
    assert json.loads(result.out) == [
        {
            "name": "support-intent",
            "team": "default",
            "provider": "local",
            "category": "classification",
            "base_model": "tfidf-logreg",
            "production": 1,
            "retired": False,
            "source_file": MODEL_FILE,
        }
    ]
    table = cli("catalog", "list").out
    assert "support-intent" in table and "tfidf-logreg" in table


def test_list_hides_retired_models_unless_all(cli: Cli, env: dict[str, str], root: Path) -> None:
    write(root, "models/ranker.yaml", model_doc("ranker"))
    cli("catalog", "sync", env=env)
    (root / "models/ranker.yaml").unlink()
    assert "model default/ranker: retire" in cli("catalog", "sync").out
    names = [m["name"] for m in json.loads(cli("catalog", "list", "--json").out)]
    assert names == ["support-intent"]
    every = json.loads(cli("catalog", "list", "--json", "--all").out)
    assert [(m["name"], m["retired"]) for m in every] == [
        ("ranker", True),
        ("support-intent", False),
    ]


def test_list_only_shows_the_cli_teams_models(cli: Cli, env: dict[str, str], root: Path) -> None:
    write(root, "models/ranker.yaml", model_doc("ranker", team="research"))
    cli("catalog", "sync", env=env)
    research = json.loads(cli("catalog", "list", "--json", env={"MODELOPS_TEAM": "research"}).out)
    assert [m["name"] for m in research] == ["ranker"]
    empty = cli("catalog", "list", env={"MODELOPS_TEAM": "nobody"})
    assert empty.code == 0
    assert "the team has no models yet: run `modelops catalog sync`" in empty.out


def test_sync_refuses_a_database_that_is_not_migrated(
    cli: Cli, root: Path, empty_pg_url: str
) -> None:
    result = cli(
        "catalog",
        "sync",
        env={"MODELOPS_DATABASE_URL": empty_pg_url, "MODELOPS_CATALOG_DIR": str(root)},
    )
    assert result.code == 1
    assert "run `modelops db upgrade`" in result.err
