"""A fake OpenAI-compatible API: chat completions, files and fine-tuning jobs, scriptable per key.

    with FakeOpenAIServer() as server:                   # base URL: server.base_url (…/v1)
        server.script("sk-a", Fault.rate_limited(retry_after="3"))
        server.replies["gpt-test"] = "billing"           # fixed answer for a model
        server.failure_rates["gpt-bad"] = 0.1            # a tenth of prompts answer 500
        ...
        server.keys_used(); server.requests_to("/chat/completions")

`stream: true` answers as OpenAI streams: `data: {chunk}` events (the role first, the text a
word at a time, then the finish), a usage chunk with `choices: []` when
`stream_options.include_usage` is set, and `data: [DONE]`; `Fault.stream_*` break it.

Fine-tune jobs belong to the key that created them (another key gets 404), honour the
`Idempotency-Key` header and the `metadata[...]` list filter (both switchable off, to play a
less complete compatible server), and move one status along `job_states` per retrieve.
`server.refused_models[model] = message` refuses jobs of that base model, as OpenAI refuses
a model that cannot be fine-tuned (400 `invalid_request_error`, param `model`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import FakeServer, Fault, json_response, sse

__all__ = ["DEFAULT_JOB_STATES", "FakeOpenAIServer", "Fault", "multipart_parts", "stream_pieces"]

DEFAULT_JOB_STATES = ("validating_files", "queued", "running", "running", "succeeded")
_RATE_HEADERS = {
    "x-ratelimit-limit-requests": "100",
    "x-ratelimit-remaining-requests": "99",
    "x-ratelimit-reset-requests": "600ms",
    "x-ratelimit-limit-tokens": "10000",
    "x-ratelimit-remaining-tokens": "9990",
    "x-ratelimit-reset-tokens": "6m0s",
}
_WORDS = re.compile(r"\S+\s*|\s+")  # pieces that join back into the text exactly


def stream_pieces(text: str) -> list[str]:
    """The text as a fake streams it: word by word, each with the spaces that follow it."""
    return _WORDS.findall(text)


@dataclass
class FakeJob:
    id: str
    owner: str | None
    body: dict[str, Any]
    created_at: int
    step: int = 0
    status: str = "validating_files"
    events: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    fine_tuned_model: str | None = None


class FakeOpenAIServer(FakeServer):
    def __init__(
        self,
        *,
        job_states: tuple[str, ...] = DEFAULT_JOB_STATES,
        honour_metadata_filter: bool = True,
        honour_idempotency_key: bool = True,
    ) -> None:
        super().__init__()
        self.job_states = job_states
        self.honour_metadata_filter = honour_metadata_filter
        self.honour_idempotency_key = honour_idempotency_key
        self.replies: dict[str, str] = {}
        self.refused_models: dict[str, str] = {}  # base model → the refusal's message
        self.failure_rates: dict[str, float] = {}  # model → share of prompts that fail (500)
        self.jobs: dict[str, FakeJob] = {}
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._idempotency: dict[tuple[str | None, str], str] = {}
        self._state_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.replies.clear()
            self.refused_models.clear()
            self.failure_rates.clear()
            self.jobs.clear()
            self.files.clear()
            self._idempotency.clear()

    def routes(self) -> list[Route]:
        jobs = "/v1/fine_tuning/jobs"
        return [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/files", self._upload, methods=["POST"]),
            Route(jobs, self._create_job, methods=["POST"]),
            Route(jobs, self._list_jobs, methods=["GET"]),
            Route(jobs + "/{job_id}", self._retrieve_job, methods=["GET"]),
            Route(jobs + "/{job_id}/events", self._events, methods=["GET"]),
            Route(jobs + "/{job_id}/checkpoints", self._checkpoints, methods=["GET"]),
            Route(jobs + "/{job_id}/cancel", self._cancel, methods=["POST"]),
        ]

    def _fails(self, model: str, prompt: str) -> bool:
        """Whether this chat fails: `failure_rates[model]` of prompts do, chosen by a hash of
        the prompt, so a retry of the same request fails again (as a broken model would)."""
        rate = self.failure_rates.get(model, 0.0)
        return rate > 0 and zlib.crc32(prompt.encode()) % 10_000 < rate * 10_000

    def render_fault(self, fault: Fault, key: str | None) -> Response:
        message = fault.message
        if fault.code == "invalid_api_key":
            message = f"{message}: {key}. You can find your API key at the dashboard."
        error = {"message": message, "type": fault.type, "param": None, "code": fault.code}
        return json_response({"error": error}, fault.status or 500, fault.headers)

    # chat and files

    async def _chat(self, request: Request) -> Response:
        key, body, fault, stream_fault = await self.intercept_stream(request)
        if fault is not None:
            return fault
        if key is None:
            return self.render_fault(Fault.unauthorized(), key)
        payload = _json(body)
        messages = payload.get("messages") or []
        if "model" not in payload or not messages:
            return self.render_fault(Fault.bad_request("model and messages are required"), key)
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if self._fails(str(payload["model"]), str(last_user)):
            overloaded = Fault(status=500, type="server_error", message="the model failed")
            return self.render_fault(overloaded, key)
        content = self.replies.get(payload["model"], f"echo: {last_user}")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(content.split()),
            "total_tokens": prompt_tokens + len(content.split()),
        }
        answer_id, created = f"chatcmpl-fake-{next(self._ids)}", int(time.time())
        if payload.get("stream") is True:
            chunks = _chunks(answer_id, created, payload, content, usage)
            return self.event_stream(chunks, stream_fault, _error_event, headers=_RATE_HEADERS)
        completion = {
            "id": answer_id,
            "object": "chat.completion",
            "created": created,
            "model": payload["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        return json_response(completion, headers=_RATE_HEADERS)

    async def _upload(self, request: Request) -> Response:
        key, body, fault = await self.intercept(request)
        if fault is not None:
            return fault
        parts = multipart_parts(request.headers.get("content-type", ""), body)
        if "file" not in parts or "purpose" not in parts:
            return self.render_fault(Fault.bad_request("file and purpose are required"), key)
        filename, content = parts["file"]
        file_id = f"file-fake{next(self._ids)}"
        self.files[file_id] = content
        return json_response(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": parts["purpose"][1].decode(),
                "status": "processed",
            }
        )

    # fine-tuning

    async def _create_job(self, request: Request) -> Response:
        key, body, fault = await self.intercept(request)
        if fault is not None:
            return fault
        payload = _json(body)
        if payload.get("training_file") not in self.files:
            return self.render_fault(Fault.bad_request("invalid training_file"), key)
        refusal = self.refused_models.get(str(payload.get("model")))
        if refusal is not None:
            error = {"message": refusal, "type": "invalid_request_error", "param": "model"}
            return json_response({"error": {**error, "code": "model_not_available"}}, 400)
        idem = request.headers.get("idempotency-key")
        with self._state_lock:
            if self.honour_idempotency_key and idem and (key, idem) in self._idempotency:
                return json_response(self._job_json(self.jobs[self._idempotency[(key, idem)]]))
            job = FakeJob(f"ftjob-fake{next(self._ids)}", key, payload, int(time.time()))
            job.status = self.job_states[0]
            self._event(job, "info", "Validating training file: " + payload["training_file"])
            self.jobs[job.id] = job
            if idem:
                self._idempotency[(key, idem)] = job.id
        return json_response(self._job_json(job))

    async def _list_jobs(self, request: Request) -> Response:
        key, _, fault = await self.intercept(request)
        if fault is not None:
            return fault
        wanted = {
            k[len("metadata[") : -1]: v
            for k, v in request.query_params.items()
            if k.startswith("metadata[") and self.honour_metadata_filter
        }
        with self._state_lock:
            mine = [j for j in self.jobs.values() if j.owner == key][::-1]  # newest first
            mine = [j for j in mine if _matches(j.body.get("metadata") or {}, wanted)]
            page, has_more = _page(mine, request, lambda j: j.id)
            data = [self._job_json(j) for j in page]
        return json_response({"object": "list", "data": data, "has_more": has_more})

    async def _retrieve_job(self, request: Request) -> Response:
        job, fault = await self._owned_job(request)
        if fault is not None:
            return fault
        assert job is not None
        with self._state_lock:
            self._advance(job)
            return json_response(self._job_json(job))

    async def _events(self, request: Request) -> Response:
        job, fault = await self._owned_job(request)
        if fault is not None:
            return fault
        assert job is not None
        with self._state_lock:
            page, has_more = _page(job.events[::-1], request, lambda e: e["id"])
        return json_response({"object": "list", "data": page, "has_more": has_more})

    async def _checkpoints(self, request: Request) -> Response:
        job, fault = await self._owned_job(request)
        if fault is not None:
            return fault
        assert job is not None
        data = []
        if job.status == "succeeded":
            data = [
                {
                    "object": "fine_tuning.job.checkpoint",
                    "id": f"ftckpt-{job.id}-{step}",
                    "created_at": job.created_at + step,
                    "fine_tuned_model_checkpoint": f"{job.fine_tuned_model}:ckpt-step-{step}",
                    "fine_tuning_job_id": job.id,
                    "step_number": step,
                    "metrics": {"step": step, "train_loss": 1.0 / step, "valid_loss": None},
                }
                for step in (30, 20, 10)
            ]
        return json_response({"object": "list", "data": data, "has_more": False})

    async def _cancel(self, request: Request) -> Response:
        job, fault = await self._owned_job(request)
        if fault is not None:
            return fault
        assert job is not None
        with self._state_lock:
            if job.status not in {"succeeded", "failed", "cancelled"}:
                job.status = "cancelled"
                self._event(job, "info", "Fine-tuning job cancelled")
            return json_response(self._job_json(job))

    async def _owned_job(self, request: Request) -> tuple[FakeJob | None, Response | None]:
        key, _, fault = await self.intercept(request)
        if fault is not None:
            return None, fault
        job = self.jobs.get(request.path_params["job_id"])
        if job is None or job.owner != key:  # jobs belong to the account that created them
            missing = Fault(404, "invalid_request_error", "fine_tune_not_found", "No such job")
            return None, self.render_fault(missing, key)
        return job, None

    def _advance(self, job: FakeJob) -> None:
        if job.status in {"succeeded", "failed", "cancelled"}:
            return
        job.step = min(job.step + 1, len(self.job_states) - 1)
        job.status = self.job_states[job.step]
        total = len(self.job_states)
        if job.status == "running":
            data = {"step": job.step, "total_steps": total, "train_loss": 1.0 / job.step}
            self._event(job, "info", f"Step {job.step}/{total}", "metrics", data)
        elif job.status == "succeeded":
            job.fine_tuned_model = f"ft:{job.body['model']}:fake:{job.body.get('suffix')}:{job.id}"
            self._event(job, "info", f"New fine-tuned model created: {job.fine_tuned_model}")
            self._event(job, "info", "The job has successfully completed")
        elif job.status == "failed":
            self._event(job, "error", "Training failed")
        else:
            self._event(job, "info", f"Job moved to {job.status}")

    def _event(
        self,
        job: FakeJob,
        level: str,
        message: str,
        kind: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        job.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": f"ftevent-{job.id}-{len(job.events) + 1}",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "type": kind,
                "data": data or {},
            }
        )

    def _job_json(self, job: FakeJob) -> dict[str, Any]:
        body = job.body
        method = body.get("method") or {"type": "supervised", "supervised": {}}
        hyper = (method.get("supervised") or {}).get("hyperparameters") or {}
        resolved = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
        resolved.update(hyper)
        failed = job.status == "failed"
        return {
            "object": "fine_tuning.job",
            "id": job.id,
            "created_at": job.created_at,
            "error": {"code": "invalid_file", "message": "Training failed", "param": None}
            if failed
            else None,
            "fine_tuned_model": job.fine_tuned_model,
            "finished_at": int(time.time()) if job.status == "succeeded" else None,
            "hyperparameters": resolved,
            "method": {"type": "supervised", "supervised": {"hyperparameters": resolved}},
            "model": body["model"],
            "organization_id": "org-fake",
            "result_files": [],
            "seed": body.get("seed", 42),
            "status": job.status,
            "trained_tokens": 1234 if job.status == "succeeded" else None,
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "metadata": body.get("metadata"),
            "integrations": [],
            "estimated_finish": None,
        }


def _chunks(
    answer_id: str, created: int, payload: dict[str, Any], content: str, usage: dict[str, int]
) -> list[bytes]:
    """The events of a streamed answer, as OpenAI sends them (usage: with include_usage)."""
    with_usage = bool((payload.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        body: dict[str, Any] = {
            "id": answer_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": payload["model"],
            "system_fingerprint": "fp_fake",
            "choices": [choice],
        }
        if with_usage:
            body["usage"] = None
        return sse(body)

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": piece}) for piece in stream_pieces(content)]
    events.append(chunk({}, "stop"))
    if with_usage:
        final = {
            "id": answer_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": payload["model"],
            "system_fingerprint": "fp_fake",
            "choices": [],
            "usage": usage,
        }
        events.append(sse(final))
    return [*events, sse("[DONE]")]


def _error_event(fault: Fault) -> bytes:
    """OpenAI's in-band error: a data event holding only `error`, as the SDK reads it."""
    error = {"message": fault.message, "type": fault.type, "param": None, "code": fault.code}
    return sse({"error": error})


def _json(body: bytes) -> dict[str, Any]:
    value = json.loads(body or b"{}")
    return value if isinstance(value, dict) else {}


def multipart_parts(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """Form parts by name → (filename, bytes), with the stdlib email parser."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = (part.get_filename() or "", payload)
    return parts


def _matches(metadata: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(metadata.get(k) == v for k, v in wanted.items())


def _page(
    items: list[Any], request: Request, id_of: Callable[[Any], str]
) -> tuple[list[Any], bool]:
    """Cursor pagination as OpenAI does it: `after` an id, at most `limit` items."""
    limit = int(request.query_params.get("limit", "20"))
    after = request.query_params.get("after")
    ids = [id_of(item) for item in items]
    start = ids.index(after) + 1 if after in ids else 0
    page = items[start : start + limit]
    return page, start + limit < len(items)
