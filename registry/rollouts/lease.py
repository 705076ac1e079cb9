"""One driver per rollout: a PostgreSQL session advisory lock held by the flow run that moves
it. The server drops the lock with the connection, so a run killed with -9 frees it at once
and a rerun resumes; a second live run is refused. SQLite (the embedded demo) runs one
process, and holds no lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from registry.errors import ConflictError

_NAMESPACE = 0x524F  # "RO": keeps these keys apart from any other advisory lock


@contextmanager
def driving(engine: Engine, rollout_id: int, *, holder: str) -> Iterator[None]:
    """Hold rollout `rollout_id` for this run until the block ends."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:space, :key)"),
            {"space": _NAMESPACE, "key": rollout_id},
        ).scalar()
        conn.commit()
        if not got:
            raise ConflictError(
                f"rollout #{rollout_id} is being driven by another run right now; {holder} "
                "leaves it to that one (see `modelops rollouts show "
                f"{rollout_id}`)"
            )
        try:
            yield
        finally:
            conn.execute(
                text("SELECT pg_advisory_unlock(:space, :key)"),
                {"space": _NAMESPACE, "key": rollout_id},
            )
            conn.commit()
