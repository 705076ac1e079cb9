"""Sticky weighted routing: a routing key's bucket, and the immutable route table of one
endpoint that the gateway caches and asks `assign(key)` on every request. Pure.
"""

from __future__ import annotations

import secrets
from bisect import bisect_right
from dataclasses import dataclass, field
from enum import StrEnum
from hashlib import blake2b
from typing import Literal, NamedTuple

from registry.buckets import BUCKETS, BUCKETS_PER_PERCENT, Ranges, check_layout

ROUTING_KEY_HEADER = "x-modelops-routing-key"
# Names a preview version (`x-modelops-preview: 5`): the request goes to it, whatever the
# weights. Previews own no buckets, so no request without the header ever reaches one.
PREVIEW_HEADER = "x-modelops-preview"
MAX_ROUTING_KEY_CHARS = 256
SALT_BYTES = 16

# Domain separation: the serving bucket and the shadow bucket of one key are independent,
# so which requests are mirrored does not depend on which version serves them.
_ASSIGN = b"modelops-assign"
_SHADOW = b"modelops-shadow"


class RouteRole(StrEnum):
    STABLE = "stable"
    CANARY = "canary"
    PREVIEW = "preview"
    VARIANT = "variant"
    SHADOW = "shadow"  # mirrored off the response path; never answers, owns no buckets

    @property
    def splits_traffic(self) -> bool:
        """Whether the route takes a share of requests by weight. A preview answers only
        requests that name it (PREVIEW_HEADER); a shadow only mirrors."""
        return self not in (RouteRole.SHADOW, RouteRole.PREVIEW)


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def bucket_of(salt: bytes, routing_key: str) -> int:
    """The key's serving bucket in 0…9999: keyed BLAKE2b, stable across processes and
    releases (never Python's `hash()`, which is randomized per process)."""
    return _hash(salt, routing_key, _ASSIGN)


def shadow_bucket_of(salt: bytes, routing_key: str) -> int:
    """The key's shadow bucket in 0…9999, independent of its serving bucket."""
    return _hash(salt, routing_key, _SHADOW)


def _hash(salt: bytes, routing_key: str, person: bytes) -> int:
    digest = blake2b(routing_key.encode(), digest_size=8, key=salt, person=person).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class RoutingKey(NamedTuple):
    value: str
    source: Literal["header", "user", "random"]


def choose_routing_key(header: str | None, user: str | None) -> RoutingKey:
    """The `x-modelops-routing-key` header, else the OpenAI `user` field, else a random key
    (that request alone is then sticky to nothing). Raises ValueError for an over-long header."""
    if header:
        if len(header) > MAX_ROUTING_KEY_CHARS:
            raise ValueError(
                f"{ROUTING_KEY_HEADER} has {len(header)} characters; at most "
                f"{MAX_ROUTING_KEY_CHARS} are allowed"
            )
        return RoutingKey(header, "header")
    if user:
        return RoutingKey(user, "user")
    return RoutingKey(secrets.token_hex(16), "random")


class Assignment(NamedTuple):
    version: int
    role: RouteRole


@dataclass(frozen=True, slots=True)
class ServedVersion:
    """A version that answers requests: its weight (percent) and the buckets it owns."""

    version: int
    role: RouteRole
    weight: int
    buckets: Ranges
    version_id: int
    provider_model_id: str


@dataclass(frozen=True, slots=True)
class ShadowVersion:
    """A version mirrored `percent` of requests (by shadow bucket); its answers are discarded."""

    version: int
    percent: int
    version_id: int
    provider_model_id: str


@dataclass(frozen=True)
class RouteTable:
    """One endpoint's routes at one revision. Built once per change, shared read-only."""

    endpoint_id: int
    team_id: int
    name: str
    model: str
    environment: str
    revision: int
    serving: bool  # False once undeployed: new requests get 404/409, in-flight ones finish
    salt: bytes
    served: tuple[ServedVersion, ...]
    shadows: tuple[ShadowVersion, ...] = ()
    previews: tuple[ServedVersion, ...] = ()  # weight 0, no buckets: reached by header only
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _owners: tuple[ServedVersion, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        layout = {served.version: served.buckets for served in self.served}
        if len(layout) != len(self.served):
            raise ValueError(f"endpoint {self.name!r}: a version is served twice")
        check_layout(layout, {served.version: served.weight for served in self.served})
        ranges = sorted((start, served) for served in self.served for start, _ in served.buckets)
        object.__setattr__(self, "_starts", tuple(start for start, _ in ranges))
        object.__setattr__(self, "_owners", tuple(owner for _, owner in ranges))

    def assign(self, routing_key: str) -> Assignment:
        """The version (and its role) that answers this key: the same key, the same answer."""
        owner = self._owners[bisect_right(self._starts, bucket_of(self.salt, routing_key)) - 1]
        return Assignment(owner.version, owner.role)

    def served_version(self, version: int) -> ServedVersion:
        for served in self.served:
            if served.version == version:
                return served
        raise KeyError(version)

    def preview_version(self, version: int) -> ServedVersion:
        """The preview route of `version`; KeyError when the endpoint previews no such one."""
        for preview in self.previews:
            if preview.version == version:
                return preview
        raise KeyError(version)

    def shadow_targets(self, routing_key: str) -> tuple[ShadowVersion, ...]:
        """The shadows this key is mirrored to. Chosen by shadow bucket, not at random, so a
        conversation is mirrored whole or not at all and raising a percent keeps its keys."""
        if not self.shadows:
            return ()
        bucket = shadow_bucket_of(self.salt, routing_key)
        return tuple(s for s in self.shadows if bucket < s.percent * BUCKETS_PER_PERCENT)
