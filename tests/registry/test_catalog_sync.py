"""Catalog sync on PostgreSQL and SQLite: idempotent, retire-not-delete, all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry.catalog import load_catalog
from registry.catalog_sync import SyncAction, SyncPlan, apply_sync, plan_sync
from registry.database import make_engine, make_session_factory
from registry.domain import StagePolicy
from registry.errors import ConflictError
from registry.model_repository import ModelRepository
from registry.tables import ModelRow, ProviderRow
from registry.teams import TeamRepository
from tests.registry.test_catalog_support import (
    copy_example_catalog,
    make_catalog,
    model_doc,
    provider_doc,
    row_counts,
    snapshot,
    write,
)

Actions = dict[tuple[str, str | None, str], tuple[SyncAction, list[str]]]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def sync(engine: Engine, root: Path, *, write_it: bool = True) -> Actions:
    with make_session_factory(engine).begin() as session:
        plan = plan_sync(session, load_catalog(root))
        if write_it:
            apply_sync(session, plan)
    return actions(plan)


def actions(plan: SyncPlan) -> Actions:
    return {(c.kind, c.team, c.name): (c.action, c.changes) for c in plan.changes}


def model_row(session: Session, name: str) -> ModelRow:
    row = session.scalar(select(ModelRow).where(ModelRow.name == name))
    assert row is not None
    return row


def test_first_sync_creates_providers_models_and_teams(engine: Engine, tmp_path: Path) -> None:
    root = make_catalog(tmp_path, model_doc(), model_doc("ranker", team="research"))
    assert sync(engine, root) == {
        ("provider", None, "local"): (SyncAction.CREATE, []),
        ("provider", None, "openai"): (SyncAction.CREATE, []),
        ("model", "default", "support-intent"): (SyncAction.CREATE, []),
        ("model", "research", "ranker"): (SyncAction.CREATE, []),
    }
    with make_session_factory(engine)() as session:
        assert TeamRepository(session).list_names() == ["default", "research"]
        research = TeamRepository(session).find("research")
        assert [m.name for m in ModelRepository(session, research).all()] == ["ranker"]


def test_second_sync_changes_nothing(engine: Engine, db_url: str, tmp_path: Path) -> None:
    root = copy_example_catalog(tmp_path / "catalog")
    sync(engine, root)
    before = snapshot(db_url)
    second = sync(engine, root)
    assert {action for action, _ in second.values()} == {SyncAction.UNCHANGED}
    assert snapshot(db_url) == before


def test_rows_hold_the_validated_definition_and_its_relative_file(
    engine: Engine, tmp_path: Path
) -> None:
    root = copy_example_catalog(tmp_path / "catalog")
    sync(engine, root)
    with make_session_factory(engine)() as session:
        model = ModelRepository(session, TeamRepository(session).find("default")).get(
            "support-intent"
        )
        openai = session.scalar(select(ProviderRow).where(ProviderRow.name == "openai"))
    assert model.source_file == "models/support-intent.yaml"
    assert model.policy["production"] == StagePolicy(
        approvers=["alice", "bob"],
        min_approvals=1,
        four_eyes=True,
        gates={"min_accuracy": 0.85, "not_worse_than_champion": True},
    )
    assert model.rollout == {
        "strategy": "canary",
        "steps": [5, 25, 50, 100],
        "bake_seconds": 300,
        "min_samples": 500,
        "max_error_rate_increase": 0.01,
        "max_latency_increase_ratio": 0.25,
        "step_deadline_seconds": 3600,
        "on_inconclusive": "pause",
        "rollback_window_seconds": 600,
        "shadow_percent": 10,
        "alpha": 0.05,
        "max_looks": 50,
    }
    assert model.cost == {"input_per_1k": 0.0, "output_per_1k": 0.0}
    assert openai is not None
    assert (openai.kind, openai.base_url, openai.source_file) == (
        "openai",
        "https://api.openai.com/v1",
        "providers/openai.yaml",
    )


def test_an_edit_is_an_update_naming_the_changed_fields(engine: Engine, tmp_path: Path) -> None:
    root = make_catalog(tmp_path)
    sync(engine, root)
    edited = model_doc(description="new words", provider="openai", base_model="gpt-4o-mini")
    write(root, "models/support-intent.yaml", edited)
    write(root, "providers/openai.yaml", provider_doc("openai", "openai", base_url="https://y/v1"))
    changes = sync(engine, root)
    assert changes[("model", "default", "support-intent")] == (
        SyncAction.UPDATE,
        ["provider", "base_model", "description"],
    )
    assert changes[("provider", None, "openai")] == (SyncAction.UPDATE, ["base_url"])
    with make_session_factory(engine)() as session:
        model = ModelRepository(session, TeamRepository(session).find("default")).get(
            "support-intent"
        )
    assert (model.provider, model.base_model, model.description) == (
        "openai",
        "gpt-4o-mini",
        "new words",
    )


def test_a_model_removed_from_the_catalog_is_retired_not_deleted(
    engine: Engine, tmp_path: Path
) -> None:
    root = make_catalog(tmp_path, model_doc(), model_doc("ranker"))
    sync(engine, root)
    (root / "models/ranker.yaml").unlink()
    assert sync(engine, root)[("model", "default", "ranker")] == (SyncAction.RETIRE, [])
    with make_session_factory(engine)() as session:
        assert model_row(session, "ranker").retired_at is not None
        models = ModelRepository(session, TeamRepository(session).find("default"))
        assert [m.name for m in models.all()] == ["support-intent"]
        assert [(m.name, m.retired) for m in models.all(include_retired=True)] == [
            ("ranker", True),
            ("support-intent", False),
        ]
    # Once retired, it is no longer part of the catalog's picture: nothing to do.
    assert ("model", "default", "ranker") not in sync(engine, root)


def test_a_model_that_reappears_is_restored_with_its_edits(engine: Engine, tmp_path: Path) -> None:
    root = make_catalog(tmp_path, model_doc(), model_doc("ranker"))
    sync(engine, root)
    (root / "models/ranker.yaml").unlink()
    sync(engine, root)
    write(root, "models/ranker.yaml", model_doc("ranker", category="chat"))
    assert sync(engine, root)[("model", "default", "ranker")] == (
        SyncAction.RESTORE,
        ["category"],
    )
    with make_session_factory(engine)() as session:
        row = model_row(session, "ranker")
        assert (row.retired_at, row.category) == (None, "chat")


def test_providers_no_longer_in_the_catalog_are_retired_and_can_return(
    engine: Engine, tmp_path: Path
) -> None:
    root = make_catalog(tmp_path)
    sync(engine, root)
    openai_file = (root / "providers/openai.yaml").read_text()
    (root / "providers/openai.yaml").unlink()
    assert sync(engine, root)[("provider", None, "openai")] == (SyncAction.RETIRE, [])
    (root / "providers/openai.yaml").write_text(openai_file)
    assert sync(engine, root)[("provider", None, "openai")] == (SyncAction.RESTORE, [])
    with make_session_factory(engine)() as session:
        rows = session.scalars(select(ProviderRow).order_by(ProviderRow.name)).all()
        assert [(row.name, row.retired_at) for row in rows] == [("local", None), ("openai", None)]


def test_moving_a_model_to_another_team_retires_the_old_one(engine: Engine, tmp_path: Path) -> None:
    root = make_catalog(tmp_path)
    sync(engine, root)
    write(root, "models/support-intent.yaml", model_doc(team="research"))
    changes = sync(engine, root)
    assert changes[("model", "default", "support-intent")] == (SyncAction.RETIRE, [])
    assert changes[("model", "research", "support-intent")] == (SyncAction.CREATE, [])


def test_planning_writes_nothing(engine: Engine, db_url: str, tmp_path: Path) -> None:
    root = make_catalog(tmp_path)
    sync(engine, root, write_it=False)
    assert row_counts(db_url) == {"teams": 0, "providers": 0, "models": 0}


def test_a_sync_that_fails_midway_writes_nothing(pg_url: str, tmp_path: Path) -> None:
    """A concurrent sync commits `openai` between our plan and our apply: ours rolls back whole."""
    engine = make_engine(pg_url)
    root = make_catalog(tmp_path)
    sessions = make_session_factory(engine)
    with pytest.raises(ConflictError), sessions.begin() as session:
        plan = plan_sync(session, load_catalog(root))
        with sessions.begin() as other:
            other.add(ProviderRow(name="openai", kind="openai", options={}, source_file="x"))
        apply_sync(session, plan)
    engine.dispose()
    assert row_counts(pg_url) == {"teams": 0, "providers": 1, "models": 0}
