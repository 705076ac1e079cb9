"""Standard request models refuse bad input by field; adapters are found by kind, or not."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import httpx
import pytest
from pydantic import SecretStr, TypeAdapter, ValidationError

from adapters.base import Credential
from adapters.categories import Category
from adapters.chat import ChatRequest
from adapters.errors import ConfigurationError, UnknownProviderKindError, UnsupportedCategoryError
from adapters.generation import (
    GenerationRequest,
    ImageToImageRequest,
    StoryboardToVideoRequest,
    TextToImageRequest,
    TextToSpeechRequest,
)
from adapters.jobs import FineTuneRequest
from adapters.registry import (
    ADAPTERS,
    chat_adapter,
    chat_stream_adapter,
    classification_adapter,
    create_adapter,
    file_adapter,
    fine_tune_adapter,
    generation_adapter,
    require_category,
    supported_categories,
)

GENERATION = TypeAdapter(GenerationRequest)


def test_unknown_fields_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="temprature"):
        ChatRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temprature": 1}
        )


def test_field_validation_names_the_field_and_the_bound() -> None:
    with pytest.raises(ValidationError) as caught:
        ChatRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}
        )
    assert caught.value.errors()[0]["loc"] == ("temperature",)
    with pytest.raises(ValidationError, match="role"):
        ChatRequest.model_validate({"model": "m", "messages": [{"role": "robot", "content": ""}]})


def test_generation_request_is_chosen_by_its_category() -> None:
    request = GENERATION.validate_python(
        {
            "category": "storyboard-to-video",
            "model": "sora-2-pro-storyboard",
            "scenes": [{"prompt": "a cat wakes up", "duration_seconds": 5}],
        }
    )
    assert isinstance(request, StoryboardToVideoRequest)
    with pytest.raises(ValidationError):
        GENERATION.validate_python({"category": "text-to-hologram", "model": "m", "prompt": "p"})


def test_urls_are_checked_but_never_rewritten() -> None:
    request = GENERATION.validate_python(
        {
            "category": "image-to-image",
            "model": "m",
            "prompt": "p",
            "image_urls": ["https://Example.com"],
        }
    )
    assert isinstance(request, ImageToImageRequest)
    assert request.image_urls == ["https://Example.com"]  # no trailing slash, no lowercasing
    with pytest.raises(ValidationError, match="image_urls"):
        GENERATION.validate_python(
            {"category": "image-to-image", "model": "m", "prompt": "p", "image_urls": ["ftp://x"]}
        )


def test_text_to_speech_is_single_speaker_or_a_dialogue_with_a_voice_each() -> None:
    TextToSpeechRequest(model="tts", text="Hello", voice="alloy")
    TextToSpeechRequest(
        model="tts",
        turns=[{"speaker": "A", "text": "Hi"}, {"speaker": "B", "text": "Hello"}],
        voices={"A": "alloy", "B": "verse"},
    )
    with pytest.raises(ValidationError, match="exactly one"):
        TextToSpeechRequest(model="tts", text="x", turns=[{"speaker": "A", "text": "y"}])
    with pytest.raises(ValidationError, match="speaker"):
        TextToSpeechRequest(model="tts", turns=[{"speaker": "A", "text": "y"}], voices={})


def test_requests_are_frozen() -> None:
    request = TextToImageRequest(model="m", prompt="a fox")
    with pytest.raises(ValidationError):
        request.prompt = "a dog"


def test_fine_tune_request_needs_a_usable_idempotency_key() -> None:
    with pytest.raises(ValidationError, match="idempotency_key"):
        FineTuneRequest(model="m", training_file="f", idempotency_key="has spaces")


def test_credential_never_shows_its_key() -> None:
    credential = Credential(api_key=SecretStr("sk-live-very-secret"), key_id="k1")
    assert "sk-live-very-secret" not in repr(credential)
    assert "sk-live-very-secret" not in str(credential.model_dump())
    assert credential.secret() == "sk-live-very-secret"


def test_registry_knows_the_kinds_and_their_categories() -> None:
    assert set(ADAPTERS) == {"local", "openai", "anthropic", "asyncgen", "replicate", "localmedia"}
    assert supported_categories("local") == {Category.CHAT, Category.CLASSIFICATION}
    assert supported_categories("openai") == {Category.CHAT, Category.TEXT_TO_VIDEO}
    assert Category.STORYBOARD_TO_VIDEO in supported_categories("asyncgen")
    # Speech and music are served: every category but chat and classification has a home.
    generation = set(Category) - {Category.CHAT, Category.CLASSIFICATION}
    assert generation == set(supported_categories("replicate"))
    assert {Category.TEXT_TO_SPEECH, Category.TEXT_TO_MUSIC} <= supported_categories("localmedia")


def test_unknown_kind_is_an_error_listing_the_known_kinds() -> None:
    with pytest.raises(UnknownProviderKindError) as caught:
        create_adapter("opneai", base_url="https://x.test")
    assert "anthropic, asyncgen, local, localmedia, openai, replicate" in str(caught.value)


def test_unsupported_category_is_an_error_listing_the_served_ones() -> None:
    with pytest.raises(UnsupportedCategoryError, match="it serves: chat, classification"):
        require_category("local", Category.TEXT_TO_VIDEO)
    assert require_category("asyncgen", "text-to-image") is Category.TEXT_TO_IMAGE


def test_capabilities_are_checked_against_the_protocols(tmp_path: Path) -> None:
    local = create_adapter("local", data_dir=tmp_path)
    for narrow in (
        chat_adapter,
        chat_stream_adapter,
        classification_adapter,
        file_adapter,
        fine_tune_adapter,
    ):
        assert narrow(local) is cast(object, local)
    with pytest.raises(
        UnsupportedCategoryError,
        match=r"generation.*chat, chat-stream, classification, files, fine-tuning",
    ):
        generation_adapter(local)


def test_options_are_validated_naming_the_bad_one_and_the_allowed(tmp_path: Path) -> None:
    client = httpx.AsyncClient()
    with pytest.raises(ConfigurationError, match=r"max_token_field.*allowed options"):
        create_adapter(
            "openai", base_url="https://x.test", http_client=client, options={"max_token_field": 1}
        )
    with pytest.raises(ConfigurationError, match="needs a base_url"):
        create_adapter("anthropic", http_client=client)
    with pytest.raises(ConfigurationError, match="needs an http_client"):
        create_adapter("asyncgen", base_url="https://x.test")
    with pytest.raises(ConfigurationError, match="data_dir"):
        create_adapter("local")
