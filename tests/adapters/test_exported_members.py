"""The adapters package's public names are exactly its `__all__`, and every one resolves."""

from __future__ import annotations

import adapters


def test_every_exported_name_resolves_and_nothing_private_is_exported() -> None:
    for name in adapters.__all__:
        assert getattr(adapters, name) is not None, name
        assert not name.startswith("_")
    assert sorted(adapters.__all__) == sorted(set(adapters.__all__))


def test_the_interfaces_other_packages_build_on_are_exported() -> None:
    expected = {
        "Credential",
        "ChatAdapter",
        "FineTuneAdapter",
        "GenerationAdapter",
        "ProviderError",
        "KeyScopedError",
        "RateLimitedError",
        "ModelUnavailableError",
        "BadRequestError",
        "ProviderTimeoutError",
        "ProtocolError",
        "FaultScope",
        "JobStatus",
        "create_adapter",
        "supported_categories",
        "ADAPTERS",
    }
    assert expected <= set(adapters.__all__)
