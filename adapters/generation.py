"""Standard request models for media generation, one per category, and the generation job.

URLs stay plain strings (checked, never normalised) so that what goes out is what came in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from adapters.categories import Category
from adapters.jobs import JobError, JobStatus

__all__ = [
    "AudioToVideoRequest",
    "DownloadedContent",
    "GeneratedAsset",
    "GenerationJob",
    "GenerationRequest",
    "ImageToImageRequest",
    "ImageToVideoRequest",
    "SpeakerTurn",
    "SpeechToTextRequest",
    "StoryboardScene",
    "StoryboardToVideoRequest",
    "TextToImageRequest",
    "TextToMusicRequest",
    "TextToSpeechRequest",
    "TextToVideoRequest",
    "WebhookNotice",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")
Url = Annotated[str, Field(min_length=8, max_length=4096, pattern=r"^https?://\S+$")]
Prompt = Annotated[str, Field(min_length=1, max_length=20_000)]
Label = Annotated[str, Field(min_length=1, max_length=64)]


class _MediaRequest(BaseModel):
    """Fields every generation request has; `provider_options` goes to the provider verbatim."""

    model_config = _FROZEN

    model: str = Field(min_length=1, max_length=256)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    provider_options: dict[str, JsonValue] = Field(default_factory=dict)


class TextToImageRequest(_MediaRequest):
    category: Literal[Category.TEXT_TO_IMAGE] = Category.TEXT_TO_IMAGE
    prompt: Prompt
    negative_prompt: str | None = Field(default=None, max_length=20_000)
    aspect_ratio: Label | None = None
    num_images: int | None = Field(default=None, ge=1, le=10)


class ImageToImageRequest(_MediaRequest):
    category: Literal[Category.IMAGE_TO_IMAGE] = Category.IMAGE_TO_IMAGE
    prompt: Prompt
    image_urls: list[Url] = Field(min_length=1, max_length=16)
    negative_prompt: str | None = Field(default=None, max_length=20_000)
    aspect_ratio: Label | None = None
    strength: float | None = Field(default=None, ge=0.0, le=1.0)
    num_images: int | None = Field(default=None, ge=1, le=10)


class _VideoShape(_MediaRequest):
    aspect_ratio: Label | None = None
    duration_seconds: float | None = Field(default=None, gt=0.0, le=600.0)
    resolution: Label | None = None


class TextToVideoRequest(_VideoShape):
    category: Literal[Category.TEXT_TO_VIDEO] = Category.TEXT_TO_VIDEO
    prompt: Prompt
    negative_prompt: str | None = Field(default=None, max_length=20_000)


class ImageToVideoRequest(_VideoShape):
    category: Literal[Category.IMAGE_TO_VIDEO] = Category.IMAGE_TO_VIDEO
    prompt: Prompt
    image_urls: list[Url] = Field(min_length=1, max_length=4)  # first frame (and last)


class AudioToVideoRequest(_VideoShape):
    """A video driven by an audio track, e.g. a talking portrait from an image and speech."""

    category: Literal[Category.AUDIO_TO_VIDEO] = Category.AUDIO_TO_VIDEO
    audio_url: Url
    image_url: Url | None = None
    prompt: str | None = Field(default=None, max_length=20_000)


class StoryboardScene(BaseModel):
    model_config = _FROZEN

    prompt: Prompt
    duration_seconds: float = Field(gt=0.0, le=120.0)


class StoryboardToVideoRequest(_VideoShape):
    category: Literal[Category.STORYBOARD_TO_VIDEO] = Category.STORYBOARD_TO_VIDEO
    scenes: list[StoryboardScene] = Field(min_length=1, max_length=50)
    image_urls: list[Url] | None = Field(default=None, max_length=4)


class TextToMusicRequest(_MediaRequest):
    category: Literal[Category.TEXT_TO_MUSIC] = Category.TEXT_TO_MUSIC
    prompt: Prompt
    lyrics: str | None = Field(default=None, max_length=20_000)
    style: str | None = Field(default=None, max_length=1_000)
    instrumental: bool = False
    duration_seconds: float | None = Field(default=None, gt=0.0, le=600.0)


class SpeechToTextRequest(_MediaRequest):
    category: Literal[Category.SPEECH_TO_TEXT] = Category.SPEECH_TO_TEXT
    audio_url: Url
    language: Label | None = None
    diarize: bool = False


class SpeakerTurn(BaseModel):
    model_config = _FROZEN

    speaker: Label
    text: Prompt


class TextToSpeechRequest(_MediaRequest):
    """Either one voice reading `text`, or a dialogue of `turns` with a voice per speaker."""

    category: Literal[Category.TEXT_TO_SPEECH] = Category.TEXT_TO_SPEECH
    text: str | None = Field(default=None, min_length=1, max_length=100_000)
    voice: Label | None = None
    turns: list[SpeakerTurn] | None = Field(default=None, min_length=1, max_length=1_000)
    voices: dict[str, Label] | None = None

    @model_validator(mode="after")
    def _single_or_multi_speaker(self) -> Self:
        if (self.text is None) == (self.turns is None):
            raise ValueError("give exactly one of `text` (single speaker) or `turns` (dialogue)")
        if self.turns is not None:
            missing = sorted({t.speaker for t in self.turns} - set(self.voices or {}))
            if missing:
                raise ValueError(f"`voices` has no voice for speaker(s): {', '.join(missing)}")
        elif self.voices is not None:
            raise ValueError("`voices` is for dialogues; use `voice` with `text`")
        return self


GenerationRequest = Annotated[
    TextToImageRequest
    | ImageToImageRequest
    | TextToVideoRequest
    | ImageToVideoRequest
    | AudioToVideoRequest
    | StoryboardToVideoRequest
    | TextToMusicRequest
    | SpeechToTextRequest
    | TextToSpeechRequest,
    Field(discriminator="category"),
]


class GeneratedAsset(BaseModel):
    """One output of a job: a URL anyone may fetch, content fetched with the job's key
    (`download`: see `GenerationDownloadAdapter`), or text (a transcript)."""

    model_config = _FROZEN

    url: str | None = None
    content_type: str | None = None
    text: str | None = None
    duration_seconds: float | None = None
    download: bool = False


class GenerationJob(BaseModel):
    """An asynchronous generation task as last seen (by polling or by webhook)."""

    model_config = _FROZEN

    id: str
    provider: str
    status: JobStatus
    raw_status: str | None = None  # None until the provider has named a state
    model: str | None = None
    outputs: tuple[GeneratedAsset, ...] = ()
    error: JobError | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    progress: float | None = Field(default=None, ge=0.0, le=1.0)
    # How long the provider asks callers to wait before the next poll (a header or a field).
    poll_after_seconds: float | None = Field(default=None, ge=0.0)


class WebhookNotice(BaseModel):
    """What a verified provider webhook says: its dedup id, the job it names, and the job's
    state when the body carries it (None: the body only names the job; retrieve it)."""

    model_config = _FROZEN

    webhook_id: str = Field(min_length=1, max_length=256)
    job_id: str = Field(min_length=1, max_length=256)
    event: str = Field(max_length=128)
    job: GenerationJob | None = None


class DownloadedContent(BaseModel):
    """Content an adapter wrote to the path it was given: its type, size and digest."""

    model_config = _FROZEN

    content_type: str
    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
