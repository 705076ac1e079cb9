"""Wire format of the task-based generation APIs (Kie.ai Market: docs.kie.ai/market).

createTask `{model, callBackUrl, input}` → `{code, msg, data: {taskId}}`; recordInfo and the
callback carry `{code, msg, data: {taskId, model, state, resultJson, failCode, failMsg, ...}}`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from adapters.generation import (
    GeneratedAsset,
    GenerationJob,
    GenerationRequest,
    StoryboardToVideoRequest,
)
from adapters.jobs import JobError, JobStatus

__all__ = [
    "STATE",
    "WireEnvelope",
    "WireRecord",
    "create_to_wire",
    "job_from_record",
    "status_equivalent",
]

STATE = {
    "waiting": JobStatus.QUEUED,
    "queuing": JobStatus.QUEUED,
    "generating": JobStatus.RUNNING,
    "success": JobStatus.SUCCEEDED,
    "fail": JobStatus.FAILED,
}
# Body codes that mean something else than the HTTP status of the same number.
_BODY_CODE_AS_HTTP = {455: 503, 505: 400}
# Standard field name → the name in `input`; every other field keeps its name.
_INPUT_NAMES = {"duration_seconds": "duration"}
_NOT_INPUT = {"category", "model", "provider_options", "scenes"}
_LENIENT = ConfigDict(extra="ignore")


class WireEnvelope(BaseModel):
    model_config = _LENIENT
    code: int
    msg: str | None = None
    message: str | None = None
    data: JsonValue = None

    @property
    def text(self) -> str:
        return self.msg or self.message or ""


class WireRecord(BaseModel):
    model_config = _LENIENT
    task_id: str = Field(alias="taskId")
    model: str | None = None
    state: str
    result_json: str | None = Field(default=None, alias="resultJson")
    fail_code: str | int | None = Field(default=None, alias="failCode")
    fail_msg: str | None = Field(default=None, alias="failMsg")
    create_time: int | None = Field(default=None, alias="createTime")
    complete_time: int | None = Field(default=None, alias="completeTime")


def status_equivalent(body_code: int) -> int:
    """The HTTP status a body `code` stands for (Kie answers some failures with HTTP 200)."""
    return _BODY_CODE_AS_HTTP.get(body_code, body_code)


def create_to_wire(request: GenerationRequest, callback_url: str | None) -> dict[str, JsonValue]:
    """The createTask body. Raises ValueError if provider_options repeats a standard field."""
    fields = request.model_dump(exclude_none=True, exclude=_NOT_INPUT)
    payload: dict[str, JsonValue] = {_INPUT_NAMES.get(k, k): v for k, v in fields.items()}
    if isinstance(request, StoryboardToVideoRequest):
        payload["shots"] = [
            {"Scene": scene.prompt, "duration": scene.duration_seconds} for scene in request.scenes
        ]
    clash = sorted(set(payload) & set(request.provider_options))
    if clash:
        raise ValueError(f"provider_options repeats standard field(s): {', '.join(clash)}")
    payload.update(request.provider_options)
    body: dict[str, JsonValue] = {"model": request.model, "input": payload}
    if callback_url is not None:
        body["callBackUrl"] = callback_url
    return body


def job_from_record(record: WireRecord, *, provider: str) -> GenerationJob | None:
    """The normalised job, or None when the state is one this adapter does not know."""
    status = STATE.get(record.state)
    if status is None:
        return None
    error = None
    if status is JobStatus.FAILED:
        error = JobError(code=str(record.fail_code or "fail"), message=record.fail_msg or "")
    return GenerationJob(
        id=record.task_id,
        provider=provider,
        status=status,
        raw_status=record.state,
        model=record.model,
        outputs=tuple(GeneratedAsset(url=u) for u in _result_urls(record.result_json)),
        error=error,
        created_at=_millis(record.create_time),
        finished_at=_millis(record.complete_time),
    )


def _result_urls(result_json: str | None) -> list[str]:
    """`resultJson` is a JSON document inside a string: {"resultUrls": [...]}."""
    if not result_json:
        return []
    result = json.loads(result_json)
    urls = result.get("resultUrls", []) if isinstance(result, dict) else []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ValueError("resultJson.resultUrls is not a list of strings")
    return urls


def _millis(stamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(stamp / 1000.0, UTC) if stamp else None
