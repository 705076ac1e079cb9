"""Builders shared by the catalog tests: catalog directories in tmp_path, row counts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

import registry.all_tables  # noqa: F401  (registers every table on Base.metadata)
from registry.database import make_engine, make_session_factory
from registry.orm import Base

EXAMPLE_CATALOG = Path(__file__).resolve().parents[2] / "catalog"


def model_doc(name: str = "support-intent", **fields: Any) -> dict[str, Any]:
    """A valid model definition; `fields` override or add keys (None removes one)."""
    doc: dict[str, Any] = {
        "name": name,
        "team": "default",
        "provider": "local",
        "base_model": "tfidf-logreg",
        "category": "classification",
        "description": "Routes support tickets",
        "cost": {"input_per_1k": 0.0, "output_per_1k": 0.0},
        "policy": {"production": {"gates": {"min_accuracy": 0.85}}},
        "rollout": {"strategy": "canary", "steps": [5, 25, 50, 100]},
    }
    doc.update(fields)
    return {key: value for key, value in doc.items() if value is not None}


def provider_doc(name: str = "local", kind: str = "local", **fields: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, **fields}


def write(root: Path, relative: str, content: dict[str, Any] | str) -> Path:
    """Write one catalog file: a mapping is dumped as YAML, a string is written verbatim."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def make_catalog(root: Path, *models: dict[str, Any]) -> Path:
    """A catalog with providers local and openai and the given models (default: one)."""
    write(root, "providers/local.yaml", provider_doc())
    write(root, "providers/openai.yaml", provider_doc("openai", "openai", base_url="https://x/v1"))
    for doc in models or (model_doc(),):
        write(root, f"models/{doc['name']}.yaml", doc)
    return root


def copy_example_catalog(root: Path) -> Path:
    shutil.copytree(EXAMPLE_CATALOG, root)
    return root


def row_counts(url: str) -> dict[str, int]:
    """How many teams, providers and models the database holds, retired or not."""
    return {table: len(rows) for table, rows in snapshot(url).items()}


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every column of every team, provider and model row: equal snapshots = nothing written."""
    tables = [Base.metadata.tables[name] for name in ("teams", "providers", "models")]
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return {
                table.name: [
                    tuple(row) for row in session.execute(select(table).order_by(table.c.id))
                ]
                for table in tables
            }
    finally:
        engine.dispose()
