"""One team never sees or moves another team's models."""

from __future__ import annotations

import pytest

from registry.database import make_engine, make_session_factory
from registry.errors import NotFoundError
from registry.lifecycle import TransitionRequest, transition_stage
from registry.model_repository import ModelRepository
from registry.stages import Stage
from registry.teams import TeamRepository
from tests.registry.seed import add_version, seed_model


def test_team_b_cannot_list_show_or_move_team_a_models(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        alpha = seed_model(session, "alpha", name="alpha-only")
        add_version(session, alpha, model="alpha-only")
        beta = TeamRepository(session).ensure("beta")
    with sessions.begin() as session:
        models = ModelRepository(session, beta)
        assert models.all(include_retired=True) == []
        with pytest.raises(NotFoundError, match="no model 'alpha-only' in team 'beta'"):
            models.get("alpha-only")
        with pytest.raises(NotFoundError):
            models.versions("alpha-only")
        with pytest.raises(NotFoundError):
            models.version_by_id(1)
        with pytest.raises(NotFoundError):
            request = TransitionRequest(
                model="alpha-only", version=1, target=Stage.TESTING, actor="mallory", reason="x"
            )
            transition_stage(session, beta, request)
    with sessions.begin() as session:
        assert ModelRepository(session, alpha).version("alpha-only", 1).stage is Stage.DEVELOPMENT
    engine.dispose()
