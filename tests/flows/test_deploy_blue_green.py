"""Blue-green through the real gateway (clients on the official openai client, the flow's
smoke sent with x-modelops-preview): the preview answers the smoke and no user request, a
broken candidate fails its smoke and never serves a user, a fault after the switch switches
back at once, a quiet rollback window ends with the candidate alone."""

from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import func, select

from flows.deploy import DeployRefused
from flows.params import DeploySmoke
from registry.database import Database
from registry.endpoints import EndpointRepository
from registry.outcomes.tables import OutcomeRow
from registry.rollouts.domain import DecisionKind, Measurement, Verdict
from registry.rollouts.repository import RolloutRepository
from registry.tables import ModelVersionRow
from tasks.rollout_smoke import SmokeError
from tests.fakes.openai_server import FakeOpenAIServer
from tests.flows.conftest import wait_until
from tests.flows.deploy_support import (
    BROKEN,
    ENDPOINT,
    FlowThread,
    clients,
    gateway,
    params,
    prepare,
)
from tests.gateway.conftest import Served, trained_local, world

__all__ = ["gateway", "trained_local", "world"]
from tests.support.prefect_server import PrefectServer

SMOKE_EXAMPLES = 12


def _dataset(tmp_path: Path) -> str:
    path = tmp_path / "smoke.jsonl"
    lines = [
        {"messages": [{"role": "user", "content": f"smoke question {n}"},
                      {"role": "assistant", "content": "an answer"}]}
        for n in range(SMOKE_EXAMPLES)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def _blue_green(version: int, served: Served, tmp_path: Path, **policy: Any) -> Any:
    chosen = {"strategy": "blue-green", "steps": None, "min_samples": 100,
              "rollback_window_seconds": 4, **policy}  # fmt: skip
    run = params(version, **chosen)
    smoke = DeploySmoke(dataset=_dataset(tmp_path), gateway_url=served.url, ready_seconds=20)
    return run.model_copy(update={"smoke": smoke})


def _warm_up(served: Served) -> None:
    """v1's traffic before the deploy: the baseline the switched candidate is judged by."""
    wait_until(lambda: _answered(served, 1) >= 300, timeout=60, what="v1's baseline traffic")


def _answered(served: Served, version: int, before: datetime | None = None) -> int:
    database = Database.open(served.world.url)
    try:
        with database.transaction() as session:
            query = (
                select(func.count())
                .select_from(OutcomeRow)
                .join(ModelVersionRow, ModelVersionRow.id == OutcomeRow.model_version_id)
                .where(ModelVersionRow.version == version)
            )
            if before is not None:
                query = query.where(OutcomeRow.at < before)
            return int(session.scalar(query) or 0)
    finally:
        database.close()


def _record(served: Served, rollout_id: int) -> tuple[list[Measurement], list[Any], list[Any]]:
    database = Database.open(served.world.url)
    try:
        with database.transaction() as session:
            team = served.world.team
            rollouts = RolloutRepository(session, team)
            routes = EndpointRepository(session, team).get(ENDPOINT).routes
            return rollouts.measurements(rollout_id), rollouts.decisions(rollout_id), routes
    finally:
        database.close()


def test_a_good_candidate_is_previewed_smoke_tested_switched_and_kept(
    gateway: Served, openai_server: FakeOpenAIServer, prefect_api: PrefectServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    served = gateway
    prepare(served.world, monkeypatch)
    with clients(served.url, served.world.token) as counts:
        _warm_up(served)
        outcome = FlowThread(_blue_green(2, served, tmp_path)).result()
    assert outcome.status == "succeeded", outcome.outcome
    looked, decisions, routes = _record(served, outcome.rollout_id)
    smoke = looked[0]
    assert (smoke.step, smoke.verdict, smoke.candidate.requests) == (
        0,
        Verdict.PASS,
        SMOKE_EXAMPLES,
    )
    (switched,) = [d for d in decisions if d.kind is DecisionKind.SWITCH]
    assert [(r.version, r.weight, r.role.value) for r in switched.routes] == [
        (2, 100, "stable"), (1, 0, "preview"),
    ]  # fmt: skip
    # Until the switch v2 answered the smoke alone, while the clients kept sending.
    assert _answered(served, 2, before=switched.at) == SMOKE_EXAMPLES
    assert _answered(served, 1, before=switched.at) > 300
    assert [d.kind for d in decisions if d.kind is not DecisionKind.HOLD] == [
        DecisionKind.START, DecisionKind.SWITCH, DecisionKind.PROMOTE,
    ]  # fmt: skip
    assert [(r.version, r.weight) for r in routes] == [(2, 100)]
    assert counts.get("v2", 0) > 0 and counts.get("error", 0) == 0


def test_a_broken_candidate_fails_its_smoke_and_never_serves_a_user(
    gateway: Served, openai_server: FakeOpenAIServer, prefect_api: PrefectServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    served = gateway
    prepare(served.world, monkeypatch)
    openai_server.failure_rates[BROKEN] = 0.5
    with clients(served.url, served.world.token) as counts:
        _warm_up(served)
        outcome = FlowThread(_blue_green(3, served, tmp_path)).result()
    assert outcome.status == "rolled_back", outcome.outcome
    looked, decisions, routes = _record(served, outcome.rollout_id)
    (smoke,) = looked
    assert smoke.verdict is Verdict.FAIL and smoke.candidate.errors > 0
    assert "smoke requests failed" in outcome.outcome
    assert DecisionKind.SWITCH not in {d.kind for d in decisions}
    assert [(r.version, r.weight) for r in routes] == [(1, 100)]
    assert "v3" not in counts and _answered(served, 3) == SMOKE_EXAMPLES


def test_a_fault_after_the_switch_switches_back_at_once(
    gateway: Served, openai_server: FakeOpenAIServer, prefect_api: PrefectServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    served = gateway
    prepare(served.world, monkeypatch)
    with clients(served.url, served.world.token):
        _warm_up(served)
        run = FlowThread(_blue_green(3, served, tmp_path, rollback_window_seconds=120,
                                     max_error_rate_increase=0.01))  # fmt: skip
        wait_until(lambda: _switched(served), timeout=120, what="the switch")
        openai_server.failure_rates[BROKEN] = 0.1  # the candidate degrades once it serves all
        outcome = run.result()
    assert outcome.status == "rolled_back", outcome.outcome
    looked, decisions, routes = _record(served, outcome.rollout_id)
    (switched,) = [d for d in decisions if d.kind is DecisionKind.SWITCH]
    back = decisions[-1]
    assert back.kind is DecisionKind.ROLLBACK and looked[-1].verdict is Verdict.FAIL
    assert (back.at - switched.at).total_seconds() < 120  # inside the rollback window
    assert [(r.version, r.weight) for r in back.routes] == [(1, 100)]
    assert [(r.version, r.weight) for r in routes] == [(1, 100)]


def _switched(served: Served) -> bool:
    database = Database.open(served.world.url)
    try:
        with database.transaction() as session:
            found = RolloutRepository(session, served.world.team).list()
            return bool(found) and any(
                d.kind is DecisionKind.SWITCH
                for d in RolloutRepository(session, served.world.team).decisions(found[0].id)
            )
    finally:
        database.close()


def test_the_gateway_refuses_a_preview_header_naming_no_preview(gateway: Served) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.world.token,
                           max_retries=0)  # fmt: skip
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-modelops-preview": "2"},
        )  # fmt: skip
    body = refused.value.body
    assert isinstance(body, dict) and body["param"] == "x-modelops-preview"
    assert "has no preview of '2'; its previews: none" in body["message"]


def test_an_unreachable_gateway_judges_nothing_and_a_rerun_resumes_at_the_preview(
    gateway: Served, openai_server: FakeOpenAIServer, prefect_api: PrefectServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    served = gateway
    prepare(served.world, monkeypatch)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connection refused
    nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    run = _blue_green(2, served, tmp_path)
    away = run.model_copy(update={"smoke": run.smoke.model_copy(update={"gateway_url": nowhere})})
    with clients(served.url, served.world.token):
        _warm_up(served)
        with pytest.raises(SmokeError, match=f"cannot reach the gateway at {nowhere}"):
            FlowThread(away).result()
        database = Database.open(served.world.url)
        try:
            with database.transaction() as session:
                (waiting,) = RolloutRepository(session, served.world.team).list()
                looked = RolloutRepository(session, served.world.team).measurements(waiting.id)
        finally:
            database.close()
        assert (waiting.status.value, waiting.step, looked) == ("progressing", 0, [])
        outcome = FlowThread(run).result()
    closed.close()
    assert (outcome.rollout_id, outcome.status) == (waiting.id, "succeeded"), outcome.outcome
    looked, _, routes = _record(served, outcome.rollout_id)
    assert looked[0].verdict is Verdict.PASS and looked[0].step == 0
    assert [(r.version, r.weight) for r in routes] == [(2, 100)]


def test_blue_green_without_a_gateway_address_is_refused_before_anything_is_recorded(
    gateway: Served, prefect_api: PrefectServer, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    prepare(gateway.world, monkeypatch)
    monkeypatch.delenv("MODELOPS_PUBLIC_URL", raising=False)
    run = _blue_green(2, gateway, tmp_path)
    nowhere = run.model_copy(update={"smoke": run.smoke.model_copy(update={"gateway_url": ""})})
    with pytest.raises(DeployRefused, match=r"give smoke\.gateway_url or set MODELOPS_PUBLIC_URL"):
        FlowThread(nowhere).result()
    database = Database.open(gateway.world.url)
    try:
        with database.transaction() as session:
            recorded = RolloutRepository(session, gateway.world.team).list()
            routes = EndpointRepository(session, gateway.world.team).get(ENDPOINT).routes
    finally:
        database.close()
    assert recorded == [] and [(r.version, r.weight) for r in routes] == [(1, 100)]
