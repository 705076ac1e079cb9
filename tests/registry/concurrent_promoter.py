"""Workers that promote or roll back concurrently; importable by spawned processes."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier

from registry.database import make_engine, make_session_factory
from registry.errors import ConflictError
from registry.lifecycle import RollbackRequest, TransitionRequest, rollback, transition_stage
from registry.model_repository import ModelRepository
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


def roll_back(url: str, team_name: str, worker: int, barrier: Barrier | None = None) -> str:
    """Read production, wait for the others, roll back expecting what was read.

    Returns "won" or "conflict"; this is what `models rollback` does without --expect.
    """
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        with sessions() as session:
            with session.begin():
                team = TeamRepository(session).find(team_name)
                assert team is not None
                seen = ModelRepository(session, team).production("support-intent")
                assert seen is not None
            if barrier is not None:
                barrier.wait()
            request = RollbackRequest(
                model="support-intent", actor=f"worker-{worker}", reason="race", expect=seen.version
            )
            try:
                with session.begin():
                    rollback(session, team, request)
            except ConflictError:
                return "conflict"
            return "won"
    finally:
        engine.dispose()
