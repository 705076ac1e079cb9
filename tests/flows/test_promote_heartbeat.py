"""The heartbeat a waiting promote run keeps on its approval, against a real database
(that it stops once the approval is settled is tested on the repository)."""

from __future__ import annotations

import asyncio
import time

from registry.approvals import ApprovalRepository
from registry.database import make_engine, make_session_factory
from registry.domain import StagePolicy
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tasks.approval_watch import heartbeat
from tests.registry.seed import add_version, advance, seed_model


def test_the_heartbeat_advances_while_the_run_waits(registry_env: str) -> None:
    engine = make_engine(registry_env)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "default")
        version = add_version(session, team)
        advance(session, team, version, Stage.STAGING)
        row = ModelRepository(session, team).version_row("support-intent", version)
        opened = ApprovalRepository(session, team).open(
            row, target=Stage.PRODUCTION, requester="alice",
            policy=StagePolicy(approvers=["bob"]), runner=("host", 1),
        )  # fmt: skip
    assert opened.runner is not None

    def beat_at():  # type: ignore[no-untyped-def]
        with sessions.begin() as session:
            runner = ApprovalRepository(session, team).get(opened.id).runner
            return runner.heartbeat_at if runner else None

    async def wait_for_beats() -> None:
        async with heartbeat(opened.id, every=0.05):
            deadline = time.monotonic() + 30
            while beat_at() == opened.runner.heartbeat_at:  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "no heartbeat within 30 s"
                await asyncio.sleep(0.05)

    asyncio.run(wait_for_beats())
    engine.dispose()
