"""Wire format of Replicate's predictions API (replicate.com/docs/reference/http).

Create: `POST /v1/models/{owner}/{name}/predictions` with `{input, webhook,
webhook_events_filter}`, or `POST /v1/predictions` with `{version, ...}`. A prediction is
`{id, model, version, status, input, output, error, logs, metrics, created_at, started_at,
completed_at, urls}`; webhooks POST the same object. `output` depends on the model: a URL, a
list of URLs, text, or an object (e.g. a transcript).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict, JsonValue

from adapters.generation import GeneratedAsset, GenerationJob, GenerationRequest
from adapters.jobs import JobError, JobStatus

__all__ = [
    "DEFAULT_INPUT_NAMES",
    "STATE",
    "WirePrediction",
    "create_path_and_body",
    "job_from_prediction",
    "outputs_of",
]

STATE = {
    "starting": JobStatus.QUEUED,
    "processing": JobStatus.RUNNING,
    "succeeded": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
    "canceled": JobStatus.CANCELLED,
}
# Standard field → the input name most of Replicate's models use; the catalog's
# `input_names` option overrides per provider. Other fields keep their names.
DEFAULT_INPUT_NAMES = {
    "duration_seconds": "duration",
    "num_images": "num_outputs",
    "audio_url": "audio",
    "image_url": "image",
}
WEBHOOK_EVENTS = ["start", "completed"]  # `start` and `completed` are always sent
_NOT_INPUT = {"category", "model", "provider_options"}
_OWNER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*", re.IGNORECASE)
_VERSION = re.compile(r"[0-9a-f]{64}")
# The progress bar a model prints in its logs (tqdm), as the official client reads it.
_PROGRESS = re.compile(r"^\s*(\d+)%\s*\|.+?\|\s*(\d+)/(\d+)")
_TEXT_KEYS = ("transcription", "text")


class WirePrediction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    model: str | None = None
    version: str | None = None
    status: str
    output: JsonValue = None
    error: JsonValue = None
    logs: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None


def create_path_and_body(
    request: GenerationRequest,
    callback_url: str | None,
    input_names: Mapping[str, str],
) -> tuple[str, dict[str, JsonValue]]:
    """The create path and body: `owner/name` (the model's latest version),
    `owner/name:version` or a bare version id. Raises ValueError for a model id that is
    none of these, or provider_options repeating a standard input."""
    body: dict[str, JsonValue] = {"input": _input(request, input_names)}
    if callback_url is not None:
        body["webhook"] = callback_url
        body["webhook_events_filter"] = list(WEBHOOK_EVENTS)
    model, _, version = request.model.partition(":")
    if version and _OWNER_NAME.fullmatch(model) and _VERSION.fullmatch(version):
        return "/v1/predictions", {"version": version, **body}
    if not version and _VERSION.fullmatch(model):
        return "/v1/predictions", {"version": model, **body}
    if not version and _OWNER_NAME.fullmatch(model):
        return f"/v1/models/{model}/predictions", body
    raise ValueError(
        f"model {request.model!r} is not `owner/name`, `owner/name:<64-hex version>` or a "
        "version id"
    )


def _input(request: GenerationRequest, input_names: Mapping[str, str]) -> dict[str, JsonValue]:
    fields = request.model_dump(mode="json", exclude_none=True, exclude=_NOT_INPUT)
    names = {**DEFAULT_INPUT_NAMES, **input_names}
    payload: dict[str, JsonValue] = {names.get(k, k): v for k, v in fields.items()}
    clash = sorted(set(payload) & set(request.provider_options))
    if clash:
        raise ValueError(f"provider_options repeats standard input(s): {', '.join(clash)}")
    return {**payload, **request.provider_options}


def job_from_prediction(prediction: WirePrediction, *, provider: str) -> GenerationJob | None:
    """The normalised job, or None when the status is one this adapter does not know."""
    status = STATE.get(prediction.status)
    if status is None:
        return None
    error = None
    if status is JobStatus.FAILED:
        message = prediction.error if isinstance(prediction.error, str) else str(prediction.error)
        error = JobError(code="failed", message=message or "the prediction failed")
    outputs = outputs_of(prediction.output) if status is JobStatus.SUCCEEDED else ()
    return GenerationJob(
        id=prediction.id,
        provider=provider,
        status=status,
        raw_status=prediction.status,
        model=prediction.model,
        outputs=outputs,
        error=error,
        created_at=prediction.created_at,
        finished_at=prediction.completed_at,
        progress=1.0 if status is JobStatus.SUCCEEDED else _progress(prediction.logs),
    )


def outputs_of(output: JsonValue) -> tuple[GeneratedAsset, ...]:
    """URLs (a string, or found in a list or object) and text (a transcript or plain text)."""
    if output is None:
        return ()
    if isinstance(output, str):
        is_url = output.startswith(("https://", "http://"))
        return (GeneratedAsset(url=output) if is_url else GeneratedAsset(text=output),)
    if isinstance(output, list):
        return tuple(asset for item in output for asset in outputs_of(item))
    if isinstance(output, dict):
        texts = [output[k] for k in _TEXT_KEYS if isinstance(output.get(k), str)]
        if texts:
            return (GeneratedAsset(text=str(texts[0])),)
        return tuple(asset for value in output.values() for asset in _urls_only(value))
    return (GeneratedAsset(text=str(output)),)


def _urls_only(value: JsonValue) -> tuple[GeneratedAsset, ...]:
    if isinstance(value, str):
        return (GeneratedAsset(url=value),) if value.startswith(("https://", "http://")) else ()
    if isinstance(value, list):
        return tuple(asset for item in value for asset in _urls_only(item))
    return ()


def _progress(logs: str | None) -> float | None:
    for line in reversed((logs or "").splitlines()):
        match = _PROGRESS.match(line)
        if match:
            current, total = int(match[2]), int(match[3])
            return min(1.0, current / total) if total else None
    return None
