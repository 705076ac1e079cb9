"""A model's `parameters:` and `prompt_template:` (what resolve hands a consumer): validated
like the rest of the catalog (file, field, allowed values), written by `catalog sync`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from registry.catalog import CatalogError, load_catalog
from registry.catalog_sync import SyncAction, apply_sync, plan_sync
from registry.database import make_engine, make_session_factory
from registry.tables import ModelRow
from tests.registry.test_catalog_support import make_catalog, model_doc

FILE = "models/support-intent.yaml"


def _problems(tmp_path: Path, **fields: Any) -> list[str]:
    make_catalog(tmp_path, model_doc(**fields))
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"parameters": {"temprature": 0.2}},
            "parameters.temprature: unknown field 'temprature' (did you mean 'temperature'?)",
        ),
        (
            {"parameters": {"temperature": 3}},
            "parameters.temperature: Input should be less than or equal to 2",
        ),
        ({"parameters": {"max_tokens": 0}}, "parameters.max_tokens: Input should be greater"),
        ({"parameters": {"top_p": 0}}, "parameters.top_p: Input should be greater than 0"),
        ({"parameters": {"stop": []}}, "parameters.stop: List should have at least 1 item"),
        (
            {"parameters": {"stop": ["a", "b", "c", "d", "e"]}},
            "parameters.stop: List should have at most 4 items",
        ),
        (
            {"parameters": {"stop": ["ok", "\x1b[2J"]}},
            "parameters.stop: stop[1] contains the control character \\x1b",
        ),
        ({"parameters": "hot"}, "parameters: expected a mapping of fields, got a string"),
        (
            {"prompt_template": "Hello {0}"},
            "prompt_template: placeholder '{0}' is not allowed; placeholders "
            "are plain names such as {ticket}; write {{ and }} for braces",
        ),
        (
            {"prompt_template": "Hello {user.name}"},
            "prompt_template: placeholder '{user.name}' is not allowed",
        ),
        ({"prompt_template": "Hello {name!r}"}, "placeholder '{name!r}' is not allowed"),
        ({"prompt_template": "Hello {name:>10}"}, "placeholder '{name:>10}' is not allowed"),
        (
            {"prompt_template": "Hello {name"},
            "prompt_template: is not a valid template (expected '}' before end",
        ),
        ({"prompt_template": "  "}, "prompt_template: is empty"),
        ({"prompt_template": "x" * 20_001}, "prompt_template: String should have at most 20000"),
        (
            {"prompt_template": "Hi\x07 {name}"},
            "prompt_template: contains the control character \\x07 at position 2",
        ),
    ],
)
def test_a_bad_call_default_is_named_by_file_and_field(
    tmp_path: Path, fields: dict[str, Any], problem: str
) -> None:
    [found] = _problems(tmp_path, **fields)
    assert found.startswith(f"{FILE}: "), found
    assert problem in found, found


def test_sync_writes_the_call_defaults_and_reports_their_change(
    db_url: str, tmp_path: Path
) -> None:
    """On both backends, through the migrations (the columns are 0013's)."""
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    template = "Classify:\n{ticket}"
    make_catalog(
        tmp_path / "c", model_doc(parameters={"temperature": 0.0}, prompt_template=template)
    )
    with sessions.begin() as session:
        apply_sync(session, plan_sync(session, load_catalog(tmp_path / "c")))
    with sessions.begin() as session:
        row = session.scalars(select(ModelRow)).one()
        assert (row.parameters, row.prompt_template) == ({"temperature": 0.0}, template)
    make_catalog(tmp_path / "c", model_doc(parameters={"max_tokens": 10}))  # template dropped
    with sessions.begin() as session:
        plan = plan_sync(session, load_catalog(tmp_path / "c"))
        [change] = [c for c in plan.changes if c.kind == "model"]
        assert change.action is SyncAction.UPDATE
        assert change.changes == ["parameters", "prompt_template"]
        apply_sync(session, plan)
    with sessions.begin() as session:
        row = session.scalars(select(ModelRow)).one()
        assert (row.parameters, row.prompt_template) == ({"max_tokens": 10}, None)
    engine.dispose()
