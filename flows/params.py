"""Flow parameters as pydantic models, so the Prefect UI draws real forms."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from registry.stages import Stage

ModelName = Field(
    min_length=1,
    max_length=128,
    pattern=r"^[a-z0-9][a-z0-9-]*$",
    description="Model name from the catalog.",
)


class PromoteParams(BaseModel):
    """Promote one version to a stage, with the approvals its policy requires."""

    model_config = ConfigDict(extra="forbid")

    model: str = ModelName
    version: int = Field(ge=1, description="Version number to promote.")
    stage: Stage = Field(default=Stage.PRODUCTION, description="Target stage.")
    requester: str = Field(min_length=1, max_length=128, description="Who asks for this promotion.")
    reason: str = Field(
        default="promotion", max_length=2000, description="Why (kept in the ledger)."
    )
    timeout_seconds: int = Field(
        default=3600, ge=10, le=7 * 24 * 3600, description="How long to wait for approvals."
    )
