"""Imports every ORM module so `Base.metadata` knows all tables (for Alembic and tests)."""

from __future__ import annotations

from registry import tables

__all__ = ["tables"]
