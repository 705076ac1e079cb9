"""Provider handles: keyless providers, unpinned job calls, unknown names, and the probe."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Adapter, Credential
from adapters.chat import ChatMessage, ChatRequest, Role
from adapters.registry import chat_adapter
from dispatch.keyed_call import BudgetExhaustedError, CallPolicy
from dispatch.providers import open_provider, probe
from registry.errors import NotFoundError
from registry.tables import ProviderRow
from tests.dispatch.conftest import MODEL, SECRET_A, SECRET_B, World
from tests.fakes.openai_server import Fault

pytestmark = pytest.mark.anyio


def _seed_local(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(ProviderRow(name="local", kind="local", options={}, source_file=""))


async def test_keyless_provider_is_called_with_an_empty_credential_and_no_keyring(
    world: World,
) -> None:
    _seed_local(world.sessions)
    seen: list[Credential] = []

    async def operation(credential: Credential) -> str:
        seen.append(credential)
        return "answer"

    async with open_provider(
        world.sessions, world.team, "local", keyring=None, data_dir=world.data_dir
    ) as handle:
        result = await handle.call(operation)
        pinned = await handle.call_pinned(None, operation)
    assert (result.value, result.key, result.attempts, pinned) == ("answer", None, [], "answer")
    assert seen == [Credential(), Credential()]


async def test_keyless_call_is_bounded_by_the_budget(world: World) -> None:
    _seed_local(world.sessions)
    never = asyncio.Event()

    async def stuck(credential: Credential) -> None:
        await never.wait()

    policy = CallPolicy(budget_seconds=0.05)
    async with open_provider(
        world.sessions, world.team, "local", keyring=None, data_dir=world.data_dir, policy=policy
    ) as handle:
        with pytest.raises(BudgetExhaustedError, match=r"0\.05s budget"):
            await handle.call(stuck)


async def test_unknown_provider_names_the_known_ones(world: World, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="unknown provider 'nope'; known providers: openai"):
        async with open_provider(
            world.sessions, world.team, "nope", keyring=None, data_dir=tmp_path
        ):
            pass


async def test_a_job_call_without_a_recorded_key_goes_through_the_pool(world: World) -> None:
    world.add_key("a", SECRET_A, priority=1)
    world.add_key("b", SECRET_B)
    world.server.always(SECRET_A, Fault.unauthorized())
    async with world.provider() as handle:
        answer = await handle.call_pinned(None, lambda c: _echo(handle.adapter, c))
    assert answer == "echo: ping"
    assert world.server.keys_used() == [SECRET_A, SECRET_B]


async def test_probe_sends_a_one_token_chat_and_reports_every_attempt(world: World) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    world.server.script(SECRET_A, Fault.rate_limited(retry_after="9"))
    async with world.provider() as handle:
        report = await probe(handle, MODEL)
    assert report.ok and report.error is None
    assert report.answered_by is not None and report.answered_by.key_id == b
    assert [(x.key_id, x.outcome) for x in report.attempts] == [(a, "rate_limited"), (b, "success")]
    sent = world.server.requests_to("/chat/completions")[-1].json()
    assert (sent["model"], sent["max_tokens"]) == (MODEL, 1)


async def test_probe_turns_a_request_scoped_error_into_a_failed_report(world: World) -> None:
    world.add_key("a", SECRET_A)
    world.server.script(SECRET_A, Fault.bad_request("The model `nope` does not exist", 404))
    async with world.provider() as handle:
        report = await probe(handle, "nope")
    assert not report.ok and report.answered_by is None
    assert report.error is not None and "does not exist" in report.error
    assert [x.outcome for x in report.attempts] == ["request_scoped"]


async def _echo(adapter: Adapter, credential: Credential) -> str:
    request = ChatRequest(model=MODEL, messages=[ChatMessage(role=Role.USER, content="ping")])
    return (await chat_adapter(adapter).chat(credential, request)).content
