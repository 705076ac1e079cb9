"""Our OpenAI requests and the fake's answers, against the official `openai` package.

Requests: each body, form or query the adapter sends is checked strictly against the SDK's
request TypedDict, and its method, path and query against what the SDK itself sends for the
same call (the SDK is pointed at the same fake). Answers: every JSON body the fake sends
validates as the SDK's response model, so the fake speaks the API as the SDK reads it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import openai
import pytest
from openai.types import FileObject, file_create_params
from openai.types.chat import ChatCompletion, completion_create_params
from openai.types.fine_tuning import (
    FineTuningJob,
    FineTuningJobEvent,
    job_create_params,
    job_list_events_params,
    job_list_params,
)
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint, checkpoint_list_params
from openai.types.shared import ErrorObject
from pydantic import SecretStr

from adapters.base import Credential
from adapters.chat import ChatMessage, ChatRequest
from adapters.jobs import FilePurpose, FineTuneRequest, Hyperparameters
from adapters.openai.adapter import OpenAIAdapter
from adapters.registry import create_adapter
from tests.contracts.typed_params import problems
from tests.fakes.openai_server import FakeOpenAIServer, Fault, multipart_parts
from tests.fakes.server import RecordedRequest

pytestmark = pytest.mark.anyio

KEY = "sk-contract-0000000000"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="k1")
JSONL = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n'
)
CHAT = ChatRequest(
    model="gpt-test",
    messages=[
        ChatMessage(role="system", content="Answer briefly."),
        ChatMessage(role="user", content="Where is my parcel?"),
        ChatMessage(role="assistant", content="Which order?"),
        ChatMessage(role="user", content="A-1"),
    ],
    temperature=0.2,
    top_p=0.9,
    max_tokens=5,
    stop=["\n"],
    seed=7,
)


@pytest.fixture
async def clients(
    openai_server: FakeOpenAIServer,
) -> AsyncIterator[tuple[OpenAIAdapter, openai.AsyncOpenAI]]:
    async with httpx.AsyncClient() as http:
        ours = create_adapter("openai", base_url=openai_server.base_url, http_client=http)
        assert isinstance(ours, OpenAIAdapter)
        sdk = openai.AsyncOpenAI(api_key=KEY, base_url=openai_server.base_url, max_retries=0)
        yield ours, sdk
        await sdk.close()


def _last(server: FakeOpenAIServer) -> RecordedRequest:
    return server.requests[-1]


def _target(request: RecordedRequest) -> tuple[str, str]:
    return request.method, request.path


def _query(request: RecordedRequest) -> dict[str, str]:
    return dict(parse_qsl(request.query))


async def _get(server: FakeOpenAIServer, path: str) -> Any:
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{server.base_url}{path}", headers={"authorization": f"Bearer {KEY}"}
        )
    return response.json()


@pytest.mark.parametrize("max_tokens_field", ["max_tokens", "max_completion_tokens"])
async def test_the_chat_body_is_valid_completion_create_params(
    openai_server: FakeOpenAIServer, max_tokens_field: str
) -> None:
    async with httpx.AsyncClient() as http:
        adapter = create_adapter(
            "openai",
            base_url=openai_server.base_url,
            http_client=http,
            options={"max_tokens_field": max_tokens_field},
        )
        await adapter.chat(CREDENTIAL, CHAT)  # type: ignore[attr-defined]
    body = _last(openai_server).json()
    assert max_tokens_field in body
    assert problems(completion_create_params.CompletionCreateParamsNonStreaming, body) == []


async def test_the_chat_goes_where_the_sdk_sends_it_and_the_answer_is_a_chat_completion(
    openai_server: FakeOpenAIServer, clients: tuple[OpenAIAdapter, openai.AsyncOpenAI]
) -> None:
    ours, sdk = clients
    await ours.chat(CREDENTIAL, CHAT)
    mine = _last(openai_server)
    await sdk.chat.completions.create(**mine.json())  # every field we send is an SDK argument
    theirs = _last(openai_server)
    assert _target(mine) == _target(theirs) == ("POST", "/v1/chat/completions")
    assert mine.json() == theirs.json()
    async with httpx.AsyncClient() as http:
        raw = await http.post(
            f"{openai_server.base_url}/chat/completions",
            json=mine.json(),
            headers={"authorization": f"Bearer {KEY}"},
        )
    ChatCompletion.model_validate(raw.json())


async def test_the_error_body_is_an_sdk_error_object(openai_server: FakeOpenAIServer) -> None:
    for fault in (Fault.unauthorized(), Fault.quota_exhausted(), Fault.context_length_exceeded()):
        openai_server.script(KEY, fault)
        async with httpx.AsyncClient() as http:
            raw = await http.post(
                f"{openai_server.base_url}/chat/completions",
                json={"model": "m", "messages": []},
                headers={"authorization": f"Bearer {KEY}"},
            )
        assert raw.status_code == fault.status
        ErrorObject.model_validate(raw.json()["error"])


async def test_the_upload_form_is_valid_file_create_params_and_the_answer_a_file_object(
    openai_server: FakeOpenAIServer, clients: tuple[OpenAIAdapter, openai.AsyncOpenAI]
) -> None:
    ours, sdk = clients
    uploaded = await ours.upload_file(CREDENTIAL, JSONL, FilePurpose.FINE_TUNE, filename="d.jsonl")
    mine = _last(openai_server)
    form = multipart_parts(mine.headers["content-type"], mine.body)
    fields = {"purpose": form["purpose"][1].decode(), "file": form["file"][1]}
    assert problems(file_create_params.FileCreateParams, fields) == []
    await sdk.files.create(file=("d.jsonl", JSONL), purpose="fine-tune")
    theirs = _last(openai_server)
    assert _target(mine) == _target(theirs) == ("POST", "/v1/files")
    assert set(form) == set(multipart_parts(theirs.headers["content-type"], theirs.body))
    async with httpx.AsyncClient() as http:
        raw = await http.post(
            f"{openai_server.base_url}/files",
            files={"file": ("d.jsonl", JSONL)},
            data={"purpose": "fine-tune"},
            headers={"authorization": f"Bearer {KEY}"},
        )
    assert FileObject.model_validate(raw.json()).purpose == "fine-tune"
    assert uploaded.purpose is FilePurpose.FINE_TUNE


async def test_fine_tuning_requests_match_the_sdk_and_answers_are_its_models(
    openai_server: FakeOpenAIServer, clients: tuple[OpenAIAdapter, openai.AsyncOpenAI]
) -> None:
    ours, sdk = clients
    uploaded = await ours.upload_file(CREDENTIAL, JSONL, FilePurpose.FINE_TUNE)
    request = FineTuneRequest(
        model="gpt-4o-mini",
        training_file=uploaded.id,
        hyperparameters=Hyperparameters(n_epochs=3, batch_size=8, learning_rate_multiplier=0.5),
        seed=11,
        suffix="support",
        idempotency_key="contract-1",
    )

    job = await ours.create_fine_tune(CREDENTIAL, request)
    [listed, created] = openai_server.requests[-2:]  # find_fine_tune lists first, then POSTs
    assert problems(job_create_params.JobCreateParams, created.json()) == []
    await sdk.fine_tuning.jobs.create(**created.json())
    assert _target(created) == _target(_last(openai_server)) == ("POST", "/v1/fine_tuning/jobs")
    assert created.json() == _last(openai_server).json()
    await _same_as_sdk(
        openai_server, listed, sdk.fine_tuning.jobs.list, job_list_params.JobListParams
    )

    for _ in range(6):  # through every state of the fake's job
        await ours.retrieve_fine_tune(CREDENTIAL, job.id)
        FineTuningJob.model_validate(await _get(openai_server, f"/fine_tuning/jobs/{job.id}"))
    retrieved = openai_server.requests[-2]
    await sdk.fine_tuning.jobs.retrieve(job.id)
    assert _target(retrieved) == _target(_last(openai_server))

    events = await ours.list_fine_tune_events(CREDENTIAL, job.id)
    await ours.list_fine_tune_events(CREDENTIAL, job.id, after=events[0].id)
    await _same_as_sdk(
        openai_server,
        _last(openai_server),
        lambda **query: sdk.fine_tuning.jobs.list_events(job.id, **query),
        job_list_events_params.JobListEventsParams,
    )
    for event in (await _get(openai_server, f"/fine_tuning/jobs/{job.id}/events"))["data"]:
        FineTuningJobEvent.model_validate(event)

    await ours.list_fine_tune_checkpoints(CREDENTIAL, job.id)
    await _same_as_sdk(
        openai_server,
        _last(openai_server),
        lambda **query: sdk.fine_tuning.jobs.checkpoints.list(job.id, **query),
        checkpoint_list_params.CheckpointListParams,
    )
    checkpoints = await _get(openai_server, f"/fine_tuning/jobs/{job.id}/checkpoints")
    assert checkpoints["data"]
    for checkpoint in checkpoints["data"]:
        FineTuningJobCheckpoint.model_validate(checkpoint)

    await ours.cancel_fine_tune(CREDENTIAL, job.id)
    cancelled = _last(openai_server)
    answer = await sdk.fine_tuning.jobs.cancel(job.id)
    assert _target(cancelled) == _target(_last(openai_server))
    assert cancelled.body in (b"", b"{}") and answer.id == job.id


async def _same_as_sdk(
    server: FakeOpenAIServer, mine: RecordedRequest, call: Any, params: Any
) -> None:
    """The SDK, given our query's values, sends the same method, path and query."""
    query = _query(mine)
    values: dict[str, Any] = {k: v for k, v in query.items() if not k.startswith("metadata[")}
    if "limit" in values:
        values["limit"] = int(values["limit"])
    metadata = {k[len("metadata[") : -1]: v for k, v in query.items() if k.startswith("metadata[")}
    if metadata:
        values["metadata"] = metadata
    assert problems(params, values) == []
    await call(**values)
    theirs = _last(server)
    assert _target(mine) == _target(theirs)
    assert query == _query(theirs)
