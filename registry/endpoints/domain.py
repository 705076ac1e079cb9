"""What the endpoint registry hands out and accepts: environments, owners, routes, changes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from registry.domain import Frozen
from registry.routing import RouteRole

ENDPOINT_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
Actor = Field(min_length=1, max_length=128)
Reason = Field(min_length=1, max_length=4000)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class EndpointStatus(StrEnum):
    SERVING = "serving"
    UNDEPLOYED = "undeployed"


class OwnerKind(StrEnum):
    ROLLOUT = "rollout"
    AB_TEST = "ab_test"


class RouteAction(StrEnum):
    CREATE = "create"
    ROUTE = "route"
    UNDEPLOY = "undeploy"
    CLAIM = "claim"  # a rollout or A/B test took the endpoint over
    RELEASE = "release"
    FOLLOW_STAGES = "follow-stages"  # the model's stages changed (a promotion, a rollback)


class Owner(Frozen):
    """The rollout or A/B test that owns an endpoint while it runs."""

    kind: OwnerKind
    id: int = Field(ge=1)

    def __str__(self) -> str:
        return f"{self.kind.value.replace('_', ' ')} {self.id}"


class Route(Frozen):
    """One version on an endpoint; for a shadow, `weight` is the percent of requests mirrored."""

    version: int
    weight: int
    role: RouteRole

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> Route:
        """A route as ledgers and rollouts keep it in JSON: {version, weight, role}."""
        role = RouteRole(stored["role"])
        return cls(version=stored["version"], weight=stored["weight"], role=role)


class Endpoint(Frozen):
    id: int
    team: str
    name: str
    model: str
    environment: Environment
    revision: int
    status: EndpointStatus
    routes: list[Route]
    owner: Owner | None
    created_by: str
    deployed_at: datetime
    undeployed_at: datetime | None


class RouteLedgerEntry(Frozen):
    id: int
    endpoint: str
    revision: int
    action: RouteAction
    actor: str
    reason: str
    before: list[Route]
    after: list[Route]
    owner: Owner | None
    at: datetime


class NewEndpoint(Frozen):
    name: str = Field(min_length=1, max_length=128)
    model: str
    environment: Environment = Environment.PRODUCTION
    version: int | None = Field(default=None, ge=1)  # None: see `create_endpoint`
    actor: str = Actor
    reason: str = Field(default="created", min_length=1, max_length=4000)

    @field_validator("name")
    @classmethod
    def _url_safe(cls, name: str) -> str:
        # Consumers put it in URLs and in OpenAI's `model` field.
        if not ENDPOINT_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not allowed: use lowercase letters, digits and '-', starting "
                "with a letter or digit"
            )
        return name


class WeightedVersion(Frozen):
    """`V=W` on the command line: serve version V to W percent of keys."""

    version: int = Field(ge=1)
    weight: int = Field(ge=1, le=100)
    role: RouteRole | None = None  # None: keep the route's role, else stable or canary

    @field_validator("role")
    @classmethod
    def _not_shadow(cls, role: RouteRole | None) -> RouteRole | None:
        if role is RouteRole.SHADOW:
            raise ValueError("shadow routes are given as shadows (--shadow V=P), not weights")
        if role is RouteRole.PREVIEW:
            raise ValueError("a preview takes no weight; it is given as a preview version")
        return role


class ShadowedVersion(Frozen):
    """`--shadow V=P`: mirror P percent of requests to version V."""

    version: int = Field(ge=1)
    percent: int = Field(ge=1, le=100)


class RouteChange(Frozen):
    endpoint: str
    routes: list[WeightedVersion] = Field(min_length=1, max_length=32)
    shadows: list[ShadowedVersion] = Field(default_factory=list, max_length=8)
    # Versions answering only requests that name them (registry.routing.PREVIEW_HEADER).
    previews: list[int] = Field(default_factory=list, max_length=8)
    actor: str = Actor
    reason: str = Reason
    expect_revision: int | None = Field(default=None, ge=1)


class EndpointChange(Frozen):
    """A change that is not a new set of routes: undeploy, claim, release."""

    endpoint: str
    actor: str = Actor
    reason: str = Reason
    expect_revision: int | None = Field(default=None, ge=1)
