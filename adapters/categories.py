"""The categories of model the adapters serve, as the catalog names them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["GENERATION", "IMAGE_AND_VIDEO", "SPEECH_AND_MUSIC", "Category"]


class Category(StrEnum):
    """A kind of model by what goes in and what comes out."""

    CHAT = "chat"
    CLASSIFICATION = "classification"
    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    AUDIO_TO_VIDEO = "audio-to-video"
    STORYBOARD_TO_VIDEO = "storyboard-to-video"
    TEXT_TO_MUSIC = "text-to-music"
    SPEECH_TO_TEXT = "speech-to-text"
    TEXT_TO_SPEECH = "text-to-speech"  # single speaker or a multi-speaker dialogue


IMAGE_AND_VIDEO = frozenset(
    {
        Category.TEXT_TO_IMAGE,
        Category.IMAGE_TO_IMAGE,
        Category.TEXT_TO_VIDEO,
        Category.IMAGE_TO_VIDEO,
        Category.AUDIO_TO_VIDEO,
        Category.STORYBOARD_TO_VIDEO,
    }
)
SPEECH_AND_MUSIC = frozenset(
    {Category.TEXT_TO_MUSIC, Category.SPEECH_TO_TEXT, Category.TEXT_TO_SPEECH}
)
# The categories served as asynchronous generation jobs.
GENERATION = IMAGE_AND_VIDEO | SPEECH_AND_MUSIC
