"""The errors of a generation-job request, each naming the field and what is allowed: a
standardized request the category's model refuses, a bad callback URL or idempotency key."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ValidationError

from adapters.generation import (
    AudioToVideoRequest,
    ImageToImageRequest,
    ImageToVideoRequest,
    SpeechToTextRequest,
    StoryboardToVideoRequest,
    TextToImageRequest,
    TextToMusicRequest,
    TextToSpeechRequest,
    TextToVideoRequest,
)
from registry.generation.domain import MAX_CALLBACK_URL, MAX_IDEMPOTENCY_KEY

MODELS: Mapping[str, type[BaseModel]] = {
    model.model_fields["category"].default.value: model
    for model in (
        TextToImageRequest,
        ImageToImageRequest,
        TextToVideoRequest,
        ImageToVideoRequest,
        AudioToVideoRequest,
        StoryboardToVideoRequest,
        TextToMusicRequest,
        SpeechToTextRequest,
        TextToSpeechRequest,
    )
}
_URL = re.compile(r"https?://[\x21-\x7e]+")
_KEY = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space: it travels in a header
_SHOWN_INPUT = 60


class JobServiceError(Exception):
    """An answer other than success, in the fields of the gateway's OpenAI-shaped error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type


def not_found(what: str, name: str) -> JobServiceError:
    """The same answer for a missing object and another team's: nothing tells them apart."""
    return JobServiceError(
        404,
        f"{what} {name[:128]!r} does not exist",
        param=what,
        code=f"{what}_not_found",
        type="not_found_error",
    )


def validation_error(exc: ValidationError) -> JobServiceError:
    """The first problem pydantic found, with the field's path (`image_urls[0]`) as `param`."""
    first = exc.errors()[0]
    category, *path = first["loc"] or ("",)
    param = _path(path) or None
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        allowed = _allowed(str(category))
        message = f"`{param}` is not a field of {category}; allowed: {allowed}"
    elif param is not None:
        shown = repr(first.get("input"))
        shown = shown if len(shown) <= _SHOWN_INPUT else shown[: _SHOWN_INPUT - 1] + "…"
        message = f"{param}: {message} (got {shown})"
    return JobServiceError(400, message, param=param, code="invalid_value")


def check_callback_url(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_CALLBACK_URL or _URL.fullmatch(value) is None:
        raise JobServiceError(
            400,
            f"callback_url must be an http(s) URL of at most {MAX_CALLBACK_URL} printable "
            "characters without spaces",
            param="callback_url",
            code="invalid_value",
        )
    return value


def check_idempotency_key(value: str) -> str:
    if len(value) > MAX_IDEMPOTENCY_KEY or _KEY.fullmatch(value) is None:
        raise JobServiceError(
            400,
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters "
            "without spaces",
            param="Idempotency-Key",
            code="invalid_value",
        )
    return value


def _path(path: list[int | str]) -> str:
    shown = ""
    for part in path:
        shown += f"[{part}]" if isinstance(part, int) else (f".{part}" if shown else str(part))
    return shown


def _allowed(category: str) -> str:
    model = MODELS.get(category)
    if model is None:
        return "see the category's request model"
    fields = {name for name in model.model_fields if name not in {"model", "category"}}
    return ", ".join(sorted(fields | {"callback_url"}))


__all__ = [
    "MODELS",
    "JobServiceError",
    "check_callback_url",
    "check_idempotency_key",
    "not_found",
    "validation_error",
]
