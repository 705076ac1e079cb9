"""What every task needs: settings, the database and the team, built once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cache

from sqlalchemy.orm import Session

from dispatch.providers import ProviderHandle, open_provider
from modelops.settings import Settings
from registry.database import Database, require_team
from registry.domain import Team
from registry.keys.crypto import MasterKeyring


@cache
def settings() -> Settings:
    """Read once per worker process; tasks never see secrets as parameters."""
    return Settings()


@cache
def database() -> Database:
    current = settings()
    if not current.database_url:
        current.data_dir.mkdir(parents=True, exist_ok=True)
    return Database.open(current.resolved_database_url)


@contextmanager
def unit_of_work(team_name: str | None = None) -> Iterator[tuple[Session, Team]]:
    """A transaction and the team it acts for (MODELOPS_TEAM unless named)."""
    with database().transaction() as session:
        yield session, require_team(session, team_name or settings().team)


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def keyring() -> MasterKeyring | None:
    """The master keyring, or None when unset (keyless providers such as `local` need none;
    the key pool names MODELOPS_MASTER_KEY when a provider that needs keys is called)."""
    master_key = settings().master_key
    return None if master_key is None else MasterKeyring.from_setting(master_key)


def team() -> Team:
    with unit_of_work() as (_, current):
        return current


@asynccontextmanager
async def provider(name: str, for_team: Team) -> AsyncIterator[ProviderHandle]:
    """The named catalog provider, ready to call through `for_team`'s key pool."""
    async with open_provider(
        database().sessions, for_team, name, keyring=keyring(), data_dir=settings().data_dir
    ) as handle:
        yield handle
