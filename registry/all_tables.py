"""Imports every ORM module so `Base.metadata` knows all tables (for Alembic and tests)."""

from __future__ import annotations

from registry import evaluations, finetune_jobs, tables
from registry.keys import tables as key_tables
from registry.outcomes import tables as outcome_tables

__all__ = ["evaluations", "finetune_jobs", "key_tables", "outcome_tables", "tables"]
