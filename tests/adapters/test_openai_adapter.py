"""The openai adapter against a fake OpenAI-compatible server on a real socket, fault by fault."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import JsonValue, SecretStr

from adapters import errors
from adapters.base import Credential
from adapters.chat import ChatMessage, ChatRequest, FinishReason
from adapters.jobs import FilePurpose, FineTuneRequest, Hyperparameters, JobStatus
from adapters.openai.adapter import OpenAIAdapter
from adapters.registry import create_adapter
from tests.fakes.openai_server import FakeOpenAIServer, Fault

pytestmark = pytest.mark.anyio

KEY_A, KEY_B = "sk-test-aaaaaaaaaaaaaaaa", "sk-test-bbbbbbbbbbbbbbbb"
A = Credential(api_key=SecretStr(KEY_A), key_id="key-a")
B = Credential(api_key=SecretStr(KEY_B), key_id="key-b")
REQUEST = ChatRequest(
    model="gpt-test",
    messages=[
        ChatMessage(role="system", content="Answer briefly."),
        ChatMessage(role="user", content="Where is my parcel?"),
    ],
    temperature=0.0,
    max_tokens=5,
    stop=["\n"],
    seed=7,
)
JSONL = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n'
)


def _adapter(
    server: FakeOpenAIServer, client: httpx.AsyncClient, **options: JsonValue
) -> OpenAIAdapter:
    adapter = create_adapter(
        "openai", base_url=server.base_url, http_client=client, options=options
    )
    assert isinstance(adapter, OpenAIAdapter)
    return adapter


async def test_chat_maps_names_and_copies_values_verbatim(openai_server: FakeOpenAIServer) -> None:
    openai_server.replies["gpt-test"] = "  In transit.  "
    async with httpx.AsyncClient() as client:
        response = await _adapter(openai_server, client).chat(A, REQUEST)
    [sent] = openai_server.requests_to("/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY_A}"
    assert sent.json() == {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Where is my parcel?"},
        ],
        "temperature": 0.0,
        "max_tokens": 5,
        "stop": ["\n"],
        "seed": 7,
    }
    assert response.content == "  In transit.  "
    assert response.finish_reason is FinishReason.STOP
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (6, 2)
    assert response.latency_ms > 0
    assert response.rate_limit is not None and response.rate_limit.remaining_requests == 99


async def test_max_tokens_field_follows_the_option(openai_server: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(openai_server, client, max_tokens_field="max_completion_tokens")
        await adapter.chat(A, REQUEST)
    body = openai_server.requests_to("/chat/completions")[0].json()
    assert body["max_completion_tokens"] == 5 and "max_tokens" not in body


async def test_each_request_records_the_key_it_used(openai_server: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(openai_server, client)
        await adapter.chat(A, REQUEST)
        await adapter.chat(B, REQUEST)
        await adapter.chat(A, REQUEST)
    assert openai_server.keys_used() == [KEY_A, KEY_B, KEY_A]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.unauthorized(), errors.AuthenticationError),
        (Fault.forbidden(), errors.PermissionDeniedError),
        (Fault.quota_exhausted(), errors.QuotaExhaustedError),
        (Fault.rate_limited(retry_after="3"), errors.RateLimitedError),
        (Fault.server_error(500), errors.ModelUnavailableError),
        (Fault.server_error(503), errors.ModelUnavailableError),
        (Fault.overloaded(529), errors.ModelUnavailableError),
        (Fault.context_length_exceeded(), errors.ContextLengthError),
        (Fault.bad_request("Unrecognized request argument"), errors.BadRequestError),
        (Fault.malformed_json(), errors.ProtocolError),
        (Fault.unexpected_body(), errors.ProtocolError),
    ],
)
async def test_scripted_faults_become_the_taxonomy_error(
    openai_server: FakeOpenAIServer, fault: Fault, expected: type[errors.ProviderError]
) -> None:
    openai_server.script(KEY_A, fault)
    async with httpx.AsyncClient() as client:
        adapter = _adapter(openai_server, client)
        with pytest.raises(expected) as caught:
            await adapter.chat(A, REQUEST)
        assert type(caught.value) is expected
        assert caught.value.provider == "openai"
        # The fault was for this key only, and only once.
        assert (await adapter.chat(B, REQUEST)).content
        assert (await adapter.chat(A, REQUEST)).content


@pytest.mark.parametrize(
    ("fault", "seconds"),
    [
        (Fault.rate_limited(retry_after="12"), 12.0),
        (Fault.rate_limited(retry_after_ms="250"), 0.25),
        (Fault.rate_limited(reset_requests="20ms", remaining_requests="0"), 0.02),
        (Fault.rate_limited(reset_tokens="6m0s", remaining_tokens="0", reset_requests="1s"), 360.0),
    ],
)
async def test_rate_limits_carry_how_long_to_wait(
    openai_server: FakeOpenAIServer, fault: Fault, seconds: float
) -> None:
    openai_server.script(KEY_A, fault)
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.RateLimitedError) as caught:
            await _adapter(openai_server, client).chat(A, REQUEST)
    assert caught.value.retry_after == pytest.approx(seconds)
    assert caught.value.scope is errors.FaultScope.RATE_LIMIT


async def test_retry_after_as_http_date(openai_server: FakeOpenAIServer) -> None:
    # Computed when the test runs, not at import: a long session must not let it go stale.
    in_90s = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    openai_server.script(KEY_A, Fault.rate_limited(retry_after=in_90s))
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.RateLimitedError) as caught:
            await _adapter(openai_server, client).chat(A, REQUEST)
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 90


async def test_a_hang_past_the_timeout_is_a_timeout(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(KEY_A, Fault.hang(30))
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.ProviderTimeoutError):
            await _adapter(openai_server, client).chat(A, REQUEST, timeout=0.2)


async def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with httpx.AsyncClient() as client:
        adapter = create_adapter(
            "openai", base_url=f"http://127.0.0.1:{port}/v1", http_client=client
        )
        assert isinstance(adapter, OpenAIAdapter)
        with pytest.raises(errors.ProviderConnectionError):
            await adapter.chat(A, REQUEST)


async def test_the_key_never_reaches_messages_reprs_or_logs(
    openai_server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.always(KEY_A, Fault.unauthorized())  # its message echoes the key
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.AuthenticationError) as caught:
            await _adapter(openai_server, client).chat(A, REQUEST)
    assert "Incorrect API key provided" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), caplog.text, repr(A)):
        assert KEY_A not in text


async def test_a_credential_without_a_key_is_refused_before_sending(
    openai_server: FakeOpenAIServer,
) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.AuthenticationError):
            await _adapter(openai_server, client).chat(Credential(key_id="empty"), REQUEST)
    assert openai_server.requests == []


async def _upload(adapter: OpenAIAdapter) -> str:
    uploaded = await adapter.upload_file(A, JSONL, FilePurpose.FINE_TUNE, filename="train.jsonl")
    assert (uploaded.filename, uploaded.bytes) == ("train.jsonl", len(JSONL))
    return uploaded.id


def _fine_tune(training_file: str, key: str = "flow-run-1:support-intent:v2") -> FineTuneRequest:
    return FineTuneRequest(
        model="gpt-4o-mini",
        training_file=training_file,
        hyperparameters=Hyperparameters(n_epochs=3),
        seed=11,
        suffix="support",
        idempotency_key=key,
    )


async def test_fine_tune_walks_the_six_statuses_to_a_model(openai_server: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(openai_server, client)
        file_id = await _upload(adapter)
        job = await adapter.create_fine_tune(A, _fine_tune(file_id))
        seen = [(job.raw_status, job.status)]
        while not job.status.is_terminal:
            job = await adapter.retrieve_fine_tune(A, job.id)
            seen.append((job.raw_status, job.status))
        events = await adapter.list_fine_tune_events(A, job.id)
        checkpoints = await adapter.list_fine_tune_checkpoints(A, job.id)
    assert seen == [
        ("validating_files", JobStatus.QUEUED),
        ("queued", JobStatus.QUEUED),
        ("running", JobStatus.RUNNING),
        ("running", JobStatus.RUNNING),
        ("succeeded", JobStatus.SUCCEEDED),
    ]
    assert job.trained_model_id == f"ft:gpt-4o-mini:fake:support:{job.id}"
    assert job.hyperparameters.n_epochs == 3 and job.seed == 11
    assert job.idempotency_key == "flow-run-1:support-intent:v2"
    sent = [r for r in openai_server.requests if r.method == "POST" and r.path.endswith("/jobs")]
    assert sent[0].headers["idempotency-key"] == "flow-run-1:support-intent:v2"
    assert sent[0].json()["metadata"] == {"modelops_idempotency_key": job.idempotency_key}
    assert sent[0].json()["method"]["supervised"]["hyperparameters"] == {"n_epochs": 3}
    assert events[0].message.startswith("Validating training file")
    assert events[-1].message == "The job has successfully completed"
    assert [c.step_number for c in checkpoints] == [30, 20, 10]


async def test_events_after_an_id_are_only_the_newer_ones(openai_server: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(openai_server, client)
        job = await adapter.create_fine_tune(A, _fine_tune(await _upload(adapter)))
        first = await adapter.list_fine_tune_events(A, job.id)
        await adapter.retrieve_fine_tune(A, job.id)
        await adapter.retrieve_fine_tune(A, job.id)
        newer = await adapter.list_fine_tune_events(A, job.id, after=first[-1].id)
    assert [e.message for e in newer] == ["Job moved to queued", "Step 2/5"]
    assert newer[-1].type == "metrics" and newer[-1].data == {
        "step": 2,
        "total_steps": 5,
        "train_loss": 0.5,
    }


@pytest.mark.parametrize("honour_filter", [True, False])
@pytest.mark.parametrize("honour_header", [True, False])
async def test_create_twice_with_one_key_makes_one_job(
    honour_filter: bool, honour_header: bool
) -> None:
    server = FakeOpenAIServer(
        honour_metadata_filter=honour_filter, honour_idempotency_key=honour_header
    )
    with server:
        async with httpx.AsyncClient() as client:
            adapter = _adapter(server, client)
            file_id = await _upload(adapter)
            other = await adapter.create_fine_tune(A, _fine_tune(file_id, key="another-run"))
            first = await adapter.create_fine_tune(A, _fine_tune(file_id))
            again = await adapter.create_fine_tune(A, _fine_tune(file_id))
            found = await adapter.find_fine_tune(A, "flow-run-1:support-intent:v2")
            missing = await adapter.find_fine_tune(A, "never-used")
    assert first.id == again.id and found is not None and found.id == first.id
    assert other.id != first.id and missing is None
    assert len(server.jobs) == 2


async def test_jobs_stay_with_the_key_that_created_them(openai_server: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(openai_server, client)
        job = await adapter.create_fine_tune(A, _fine_tune(await _upload(adapter)))
        with pytest.raises(errors.ResourceNotFoundError):
            await adapter.retrieve_fine_tune(B, job.id)
        assert await adapter.find_fine_tune(B, job.idempotency_key or "") is None


async def test_cancel_makes_the_job_cancelled(openai_server: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(openai_server, client)
        job = await adapter.create_fine_tune(A, _fine_tune(await _upload(adapter)))
        cancelled = await adapter.cancel_fine_tune(A, job.id)
        after = await adapter.retrieve_fine_tune(A, job.id)
    assert cancelled.status is JobStatus.CANCELLED and after.status is JobStatus.CANCELLED


async def test_a_failed_job_reports_its_error() -> None:
    with FakeOpenAIServer(job_states=("validating_files", "running", "failed")) as server:
        async with httpx.AsyncClient() as client:
            adapter = _adapter(server, client)
            job = await adapter.create_fine_tune(A, _fine_tune(await _upload(adapter)))
            while not job.status.is_terminal:
                job = await adapter.retrieve_fine_tune(A, job.id)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "invalid_file"


async def test_an_unknown_job_status_is_a_protocol_error() -> None:
    with FakeOpenAIServer(job_states=("validating_files", "exploded")) as server:
        async with httpx.AsyncClient() as client:
            adapter = _adapter(server, client)
            job = await adapter.create_fine_tune(A, _fine_tune(await _upload(adapter)))
            with pytest.raises(errors.ProtocolError, match="exploded"):
                await adapter.retrieve_fine_tune(A, job.id)
