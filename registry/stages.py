"""The model-version stage machine: stages and the transitions between them."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    DEVELOPMENT = "development"
    TESTING = "testing"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    REJECTED = "rejected"


# Forward through the pipeline, rejected from any stage before production, and
# archived from anywhere live. Archived -> production exists only for rollback.
ALLOWED_TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.DEVELOPMENT: frozenset({Stage.TESTING, Stage.REJECTED, Stage.ARCHIVED}),
    Stage.TESTING: frozenset({Stage.STAGING, Stage.REJECTED, Stage.ARCHIVED}),
    Stage.STAGING: frozenset({Stage.PRODUCTION, Stage.REJECTED, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset(),
    Stage.REJECTED: frozenset(),
}


def allowed_targets(current: Stage) -> frozenset[Stage]:
    return ALLOWED_TRANSITIONS[current]


def is_allowed(current: Stage, target: Stage) -> bool:
    return target in ALLOWED_TRANSITIONS[current]


def parse_stage(raw: str) -> Stage:
    """The stage named `raw`, in any letter case: the one rule for every way a stage comes in."""
    try:
        return Stage(raw.lower())
    except ValueError:
        raise ValueError(
            f"{raw!r} is not a stage; stages: {', '.join(stage.value for stage in Stage)}"
        ) from None
