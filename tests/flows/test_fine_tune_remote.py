"""The fine-tune flow against an OpenAI-compatible provider (the fake on a real socket), through
the key pool: the key that uploads the file creates, polls and owns the job."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.fine_tune import fine_tune
from flows.params import FineTuneParams, RegisterModelParams
from flows.register_model import register_model
from registry.keys import MasterKeyring
from registry.keys.repository import KeyRepository
from registry.teams import TeamRepository
from tasks import context
from tasks.finetune import FineTuneRefused
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.flows.finetune_support import CATALOG, Env, flow_env
from tests.support.prefect_server import PrefectServer

__all__ = ["flow_env"]

MODEL = "helpdesk-chat"
CHAT_MODEL = f"""\
name: {MODEL}
team: default
provider: openai
base_model: gpt-4o-mini
category: chat
"""


@pytest.fixture
def openai(
    prefect_api: PrefectServer, flow_env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeOpenAIServer, dict[str, int]]]:
    """The fake as catalog provider `openai`, v1 registered, and two keys: the first refused."""
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "providers" / "openai.yaml").unlink()
    (catalog / "models" / f"{MODEL}.yaml").write_text(CHAT_MODEL)
    with FakeOpenAIServer() as server:
        (catalog / "providers" / "openai.yaml").write_text(
            f"name: openai\nkind: openai\nbase_url: {server.base_url}\n"
        )
        monkeypatch.setenv("MODELOPS_CATALOG_DIR", str(catalog))
        context.settings.cache_clear()
        asyncio.run(register_model(RegisterModelParams(model=MODEL)))
        yield server, _add_keys(flow_env)


def _add_keys(env: Env) -> dict[str, int]:
    ring = MasterKeyring.from_setting(context.settings().master_key)
    with env.sessions.begin() as session:
        team = TeamRepository(session).find("default")
        assert team is not None
        keys = KeyRepository(session, team, ring)
        first = keys.add("openai", "first", "sk-first-0000000000", priority=10)
        second = keys.add("openai", "second", "sk-second-111111111", priority=0)
    return {"first": first.id, "second": second.id}


def _dataset(path: Path) -> Path:
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"q{n}"},
                {"role": "assistant", "content": f"a{n}"},
            ]
        }
        for n in range(12)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_the_uploading_key_creates_polls_and_is_recorded_as_the_jobs_owner(
    openai: tuple[FakeOpenAIServer, dict[str, int]], flow_env: Env, tmp_path: Path
) -> None:
    server, keys = openai
    server.always("sk-first-0000000000", Fault.unauthorized())  # the pool fails over
    params = FineTuneParams(
        model=MODEL, dataset=str(_dataset(tmp_path / "chat.jsonl")), poll_seconds=0.05
    )

    outcome = asyncio.run(fine_tune(params))
    again = asyncio.run(fine_tune(params))

    (job,) = server.jobs.values()
    assert again == outcome
    assert outcome.fine_tune_job_id == job.id
    assert outcome.provider_model_id == f"ft:gpt-4o-mini:fake:{MODEL}:{job.id}"
    assert (job.owner, job.body["metadata"]["modelops_idempotency_key"]) == (
        "sk-second-111111111",
        flow_env.job_rows()[0].idempotency_key,
    )
    # After the refused upload, every files and jobs request went with the second key.
    used = [r.key for r in server.requests if "/files" in r.path or "/fine_tuning" in r.path]
    assert used[0] == "sk-first-0000000000" and set(used[1:]) == {"sk-second-111111111"}
    (v1, v2) = flow_env.versions(MODEL)
    assert (v1.provider_model_id, v2.lineage.parent_version) == ("gpt-4o-mini", 1)
    assert v2.lineage.provider_key_id == keys["second"]
    (row,) = flow_env.job_rows()
    assert row.events[-1]["message"] == "The job has successfully completed"


def test_a_refused_job_fails_its_row_with_the_scrubbed_reason_and_a_rerun_carries_on(
    openai: tuple[FakeOpenAIServer, dict[str, int]], flow_env: Env, tmp_path: Path
) -> None:
    server, _ = openai
    # The refusal quotes the key, to prove that no key-shaped text reaches the row.
    server.refused_models["gpt-4o-mini"] = (
        "Model gpt-4o-mini is not available for fine-tuning with key sk-second-111111111"
    )
    params = FineTuneParams(
        model=MODEL, dataset=str(_dataset(tmp_path / "chat.jsonl")), poll_seconds=0.05
    )

    with pytest.raises(FineTuneRefused) as refused:
        asyncio.run(fine_tune(params))

    (row,) = flow_env.job_rows()
    assert (row.status, row.provider_job_id, row.result_version_id) == ("failed", None, None)
    assert row.error is not None and "not available for fine-tuning" in row.error
    assert "HTTP 400" in row.error and "sk-second" not in row.error
    assert str(refused.value).startswith(f"openai refused to start the fine-tune job of {MODEL}")
    assert "sk-second" not in str(refused.value) and not server.jobs

    server.refused_models.clear()  # the account may fine-tune it now: the same input works
    outcome = asyncio.run(fine_tune(params))

    rows = flow_env.job_rows()
    assert [(r.idempotency_key[-3:], r.status) for r in rows] == [
        ("-a1", "failed"),
        ("-a2", "succeeded"),
    ]
    (job,) = server.jobs.values()
    assert outcome.fine_tune_job_id == job.id == rows[1].provider_job_id
    assert [v.version for v in flow_env.versions(MODEL)] == [1, 2]
