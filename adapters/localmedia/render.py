"""What the local media provider makes: PNG images drawn with Pillow, WAV speech and music
synthesized with numpy. Deterministic: the same request gives the same bytes in any process,
so a job re-rendered after a crash is the job that was promised."""

from __future__ import annotations

import hashlib
import io
import math
import wave
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from adapters.generation import (
    GenerationRequest,
    TextToImageRequest,
    TextToMusicRequest,
    TextToSpeechRequest,
)

__all__ = ["SAMPLE_RATE", "Rendered", "render"]

SAMPLE_RATE = 16_000
_SIDES = {"1:1": (256, 256), "16:9": (320, 180), "9:16": (180, 320), "4:3": (288, 216)}
_PENTATONIC = np.array([0, 2, 4, 7, 9, 12, 14, 16])  # semitones above the root
_WORD_SECONDS = 0.12  # per character of a spoken word
_MAX_SPEECH_SECONDS = 120.0


@dataclass(frozen=True)
class Rendered:
    content: bytes
    content_type: str
    extension: str
    duration_seconds: float | None = None


def render(request: GenerationRequest) -> list[Rendered]:
    """The outputs of a request; ValueError for a category this provider does not make."""
    if isinstance(request, TextToImageRequest):
        return [_image(request, index) for index in range(request.num_images or 1)]
    if isinstance(request, TextToSpeechRequest):
        return [_wav(_speech(request))]
    if isinstance(request, TextToMusicRequest):
        return [_wav(_music(request))]
    raise ValueError(f"the local media provider does not make {request.category}")


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _image(request: TextToImageRequest, index: int) -> Rendered:
    width, height = _SIDES.get(request.aspect_ratio or "1:1", _SIDES["1:1"])
    rng = _rng(request.prompt, request.seed, index)
    top, bottom = rng.integers(0, 256, size=(2, 3))
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    pixels = (top * (1 - rows) + bottom * rows).repeat(width, axis=1).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 8))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(8, max(9, min(width, height) // 3)))
        fill = tuple(int(c) for c in rng.integers(0, 256, size=3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return Rendered(out.getvalue(), "image/png", "png")


def _speech(request: TextToSpeechRequest) -> np.ndarray:
    """A tone per word, pitched by the word and the speaker: speech in shape, not in sound."""
    turns = (
        [(None, request.text)]
        if request.text is not None
        else [(turn.speaker, turn.text) for turn in request.turns or []]
    )
    pieces: list[np.ndarray] = []
    for speaker, text in turns:
        voice = (request.voices or {}).get(speaker or "", request.voice or "default")
        base = 140.0 + float(_rng(voice).integers(0, 120))
        for word in text.split():
            pitch = base * 2 ** (float(_rng(word.lower()).integers(0, 7)) / 12)
            pieces += [_tone(pitch, _WORD_SECONDS * min(len(word), 12)), _silence(0.06)]
        pieces.append(_silence(0.25))
    samples = np.concatenate(pieces) if pieces else _silence(0.25)
    return samples[: int(_MAX_SPEECH_SECONDS * SAMPLE_RATE)]


def _music(request: TextToMusicRequest) -> np.ndarray:
    """Notes of a pentatonic scale chosen by the prompt and seed, with a soft harmonic."""
    seconds = request.duration_seconds or 8.0
    rng = _rng(request.prompt, request.style, request.seed)
    root = 196.0 * 2 ** (float(rng.integers(0, 12)) / 12)
    beat = 0.25 if request.instrumental else 0.4
    notes = []
    for _ in range(max(1, math.ceil(seconds / beat))):
        pitch = root * 2 ** (float(rng.choice(_PENTATONIC)) / 12)
        notes.append(_tone(pitch, beat) + 0.3 * _tone(pitch * 2, beat))
    return np.concatenate(notes)[: int(seconds * SAMPLE_RATE)]


def _tone(frequency: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) * 40.0)  # 25 ms attack and release
    return 0.4 * np.sin(2 * np.pi * frequency * t) * envelope


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE))


def _wav(samples: np.ndarray) -> Rendered:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())
    return Rendered(out.getvalue(), "audio/wav", "wav", round(len(pcm) / SAMPLE_RATE, 3))
