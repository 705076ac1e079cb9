"""Imports every ORM module so `Base.metadata` knows all tables (for Alembic and tests)."""

from __future__ import annotations

from registry import evaluations, finetune_jobs, tables
from registry.abtests import tables as abtest_tables
from registry.alerts import tables as alert_tables
from registry.approvers import tables as approver_tables
from registry.endpoints import tables as endpoint_tables
from registry.generation import tables as generation_tables
from registry.keys import tables as key_tables
from registry.leases import tables as lease_tables
from registry.outcomes import tables as outcome_tables
from registry.rollouts import tables as rollout_tables
from registry.tokens import tables as token_tables
from registry.usage import tables as usage_tables

__all__ = [
    "abtest_tables",
    "alert_tables",
    "approver_tables",
    "endpoint_tables",
    "evaluations",
    "finetune_jobs",
    "generation_tables",
    "key_tables",
    "lease_tables",
    "outcome_tables",
    "rollout_tables",
    "tables",
    "token_tables",
    "usage_tables",
]
