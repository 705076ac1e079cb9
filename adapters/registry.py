"""Adapters by kind: the one mapping from a provider's `kind` to the class that speaks to it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
from pydantic import JsonValue

from adapters.anthropic.adapter import AnthropicAdapter
from adapters.asyncgen.adapter import AsyncGenAdapter
from adapters.base import (
    Adapter,
    AdapterContext,
    ChatAdapter,
    ChatStreamAdapter,
    ClassificationAdapter,
    FileAdapter,
    FineTuneAdapter,
    GenerationAdapter,
    GenerationCancelAdapter,
    GenerationDownloadAdapter,
    GenerationLookupAdapter,
)
from adapters.categories import Category
from adapters.errors import UnknownProviderKindError, UnsupportedCategoryError
from adapters.local.adapter import LocalAdapter
from adapters.localmedia.adapter import LocalMediaAdapter
from adapters.openai.adapter import OpenAIAdapter
from adapters.replicate.adapter import ReplicateAdapter

__all__ = [
    "ADAPTERS",
    "CAPABILITIES",
    "chat_adapter",
    "chat_stream_adapter",
    "classification_adapter",
    "create_adapter",
    "file_adapter",
    "fine_tune_adapter",
    "generation_adapter",
    "generation_canceller",
    "generation_downloader",
    "generation_lookup",
    "require_category",
    "supported_categories",
]

ADAPTERS: dict[str, type[Adapter]] = {
    LocalAdapter.kind: LocalAdapter,
    OpenAIAdapter.kind: OpenAIAdapter,
    AnthropicAdapter.kind: AnthropicAdapter,
    AsyncGenAdapter.kind: AsyncGenAdapter,
    ReplicateAdapter.kind: ReplicateAdapter,
    LocalMediaAdapter.kind: LocalMediaAdapter,
}

# Capability protocols by the name used in error messages.
CAPABILITIES: dict[str, type[object]] = {
    "chat": ChatAdapter,
    "chat-stream": ChatStreamAdapter,
    "classification": ClassificationAdapter,
    "files": FileAdapter,
    "fine-tuning": FineTuneAdapter,
    "generation": GenerationAdapter,
    "generation-cancel": GenerationCancelAdapter,
    "generation-download": GenerationDownloadAdapter,
    "generation-lookup": GenerationLookupAdapter,
}

C = TypeVar("C")

if TYPE_CHECKING:  # mypy proves each adapter implements the capabilities it is used for

    def _conforms(
        local: LocalAdapter,
        openai: OpenAIAdapter,
        anthropic: AnthropicAdapter,
        gen: AsyncGenAdapter,
        replicate: ReplicateAdapter,
        media: LocalMediaAdapter,
    ) -> tuple[
        ChatAdapter,
        ChatStreamAdapter,
        ClassificationAdapter,
        FileAdapter,
        FineTuneAdapter,
        ChatAdapter,
        ChatStreamAdapter,
        FileAdapter,
        FineTuneAdapter,
        GenerationAdapter,
        GenerationDownloadAdapter,
        ChatAdapter,
        ChatStreamAdapter,
        GenerationAdapter,
        GenerationAdapter,
        GenerationCancelAdapter,
        GenerationAdapter,
        GenerationCancelAdapter,
        GenerationDownloadAdapter,
        GenerationLookupAdapter,
    ]:
        return (
            *(local, local, local, local, local),
            *(openai, openai, openai, openai, openai, openai),
            *(anthropic, anthropic, gen),
            *(replicate, replicate),
            *(media, media, media, media),
        )


def create_adapter(
    kind: str,
    *,
    base_url: str | None = None,
    options: Mapping[str, JsonValue] | None = None,
    http_client: httpx.AsyncClient | None = None,
    data_dir: Path | None = None,
) -> Adapter:
    """Build the adapter of `kind`; an unknown kind is an error listing the known ones."""
    context = AdapterContext(
        base_url=base_url, options=dict(options or {}), http_client=http_client, data_dir=data_dir
    )
    return _adapter_class(kind).from_context(context)


def supported_categories(kind: str) -> frozenset[Category]:
    return _adapter_class(kind).categories


def require_category(kind: str, category: Category | str) -> Category:
    """The category, if the adapter of `kind` serves it; else an error listing those it does."""
    served = supported_categories(kind)
    if category not in served:
        raise UnsupportedCategoryError(kind, str(category), served)
    return Category(category)


def chat_adapter(adapter: Adapter) -> ChatAdapter:
    """The adapter as a ChatAdapter, or an error naming the capabilities it does have."""
    return _require(adapter, ChatAdapter, "chat")  # type: ignore[type-abstract]


def chat_stream_adapter(adapter: Adapter) -> ChatStreamAdapter:
    """The adapter as a ChatStreamAdapter (streamed chat), or an error naming what it has."""
    return _require(adapter, ChatStreamAdapter, "chat-stream")  # type: ignore[type-abstract]


def classification_adapter(adapter: Adapter) -> ClassificationAdapter:
    return _require(adapter, ClassificationAdapter, "classification")  # type: ignore[type-abstract]


def file_adapter(adapter: Adapter) -> FileAdapter:
    return _require(adapter, FileAdapter, "files")  # type: ignore[type-abstract]


def fine_tune_adapter(adapter: Adapter) -> FineTuneAdapter:
    return _require(adapter, FineTuneAdapter, "fine-tuning")  # type: ignore[type-abstract]


def generation_adapter(adapter: Adapter) -> GenerationAdapter:
    return _require(adapter, GenerationAdapter, "generation")  # type: ignore[type-abstract]


def generation_canceller(adapter: Adapter) -> GenerationCancelAdapter | None:
    """The adapter as one that can cancel a job, or None: not every provider can."""
    return adapter if isinstance(adapter, GenerationCancelAdapter) else None


def generation_downloader(adapter: Adapter) -> GenerationDownloadAdapter | None:
    return adapter if isinstance(adapter, GenerationDownloadAdapter) else None


def generation_lookup(adapter: Adapter) -> GenerationLookupAdapter | None:
    return adapter if isinstance(adapter, GenerationLookupAdapter) else None


def _require(adapter: Adapter, capability: type[C], name: str) -> C:
    if isinstance(adapter, capability):
        return adapter
    have = [label for label, proto in CAPABILITIES.items() if isinstance(adapter, proto)]
    raise UnsupportedCategoryError(adapter.kind, name, have)


def _adapter_class(kind: str) -> type[Adapter]:
    try:
        return ADAPTERS[kind]
    except KeyError:
        raise UnknownProviderKindError(kind, ADAPTERS) from None
