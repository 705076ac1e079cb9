"""Catalog sync does not retire a model that still serves traffic: it refuses and says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from registry.catalog import load_catalog
from registry.catalog_sync import SyncAction, apply_sync, plan_sync
from registry.database import make_engine, make_session_factory
from registry.endpoints import EndpointChange, Environment, undeploy_endpoint
from registry.errors import InvalidInputError
from registry.stages import Stage
from tests.registry.seed import add_version, advance
from tests.registry.test_catalog_support import make_catalog, model_doc, snapshot
from tests.registry.test_endpoints_support import create, move, team_named


def sync(engine: Engine, root: Path, *, dry_run: bool = False) -> dict[str, SyncAction]:
    with make_session_factory(engine).begin() as session:
        plan = plan_sync(session, load_catalog(root))
        if not dry_run:
            apply_sync(session, plan)
    return {change.name: change.action for change in plan.changes if change.kind == "model"}


def test_a_model_in_production_behind_an_endpoint_is_not_retired_until_both_are_gone(
    db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    root = make_catalog(tmp_path, model_doc(policy={}), model_doc("ranker", policy={}))
    sync(engine, root)
    with make_session_factory(engine).begin() as session:
        team = team_named(session, "default")
        advance(session, team, add_version(session, team), Stage.PRODUCTION)
        create(session, team, "support-prod")
        create(session, team, "support-dev", Environment.DEVELOPMENT)
    (root / "models/support-intent.yaml").unlink()
    before = snapshot(db_url)
    for dry_run in (True, False):
        with pytest.raises(InvalidInputError) as refused:
            sync(engine, root, dry_run=dry_run)
        assert str(refused.value).splitlines()[:2] == [
            "catalog sync refuses to retire models that still serve traffic; nothing was written:",
            "  default/support-intent (models/support-intent.yaml is gone): v1 is in production; "
            "endpoint support-dev serves it; endpoint support-prod serves it",
        ]
    assert snapshot(db_url) == before
    with make_session_factory(engine).begin() as session:
        team = team_named(session, "default")
        for name in ("support-prod", "support-dev"):
            undeploy_endpoint(
                session, team, EndpointChange(endpoint=name, actor="a", reason="gone")
            )
    with pytest.raises(InvalidInputError) as refused:
        sync(engine, root)
    assert str(refused.value).splitlines()[1].endswith("is gone): v1 is in production")
    with make_session_factory(engine).begin() as session:
        move(session, team_named(session, "default"), 1, Stage.ARCHIVED)
    assert sync(engine, root)["support-intent"] is SyncAction.RETIRE
    engine.dispose()
