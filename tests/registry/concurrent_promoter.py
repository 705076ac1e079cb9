"""A worker that promotes one staging version; importable by spawned processes."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier

from registry.database import make_engine, make_session_factory
from registry.errors import ConflictError
from registry.lifecycle import TransitionRequest, transition_stage
from registry.teams import TeamRepository


def promote(url: str, team_name: str, version: int, barrier: Barrier | None = None) -> str:
    """Try to move `version` to production; return "won" or "conflict"."""
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        with sessions() as session:
            team = TeamRepository(session).find(team_name)
            assert team is not None
            session.rollback()
            if barrier is not None:
                barrier.wait()
            request = TransitionRequest(
                model="support-intent",
                version=version,
                target="production",  # type: ignore[arg-type]
                actor=f"worker-{version}",
                reason="race",
            )
            try:
                with session.begin():
                    transition_stage(session, team, request)
            except ConflictError:
                return "conflict"
            return "won"
    finally:
        engine.dispose()
