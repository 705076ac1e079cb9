"""Settings: MODELOPS_* variables fill the fields not passed in; bad values name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from modelops.settings import Settings


def test_fields_come_from_the_environment_in_any_case_and_arguments_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELOPS_TEAM", "ops")
    monkeypatch.setenv("modelops_data_dir", "/srv/modelops")
    monkeypatch.setenv("MODELOPS_GATEWAY_SHADOW_QUEUE", "12")
    monkeypatch.setenv("MODELOPS_NOT_A_SETTING", "ignored")
    settings = Settings()
    assert (settings.team, settings.data_dir, settings.gateway_shadow_queue) == (
        "ops",
        Path("/srv/modelops"),
        12,
    )
    assert Settings(team="billing").team == "billing"


def test_an_unset_variable_leaves_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELOPS_TEAM", raising=False)
    monkeypatch.delenv("MODELOPS_MASTER_KEY", raising=False)
    assert Settings().team == "default"
    assert Settings().master_key is None


def test_a_bad_variable_is_a_validation_error_naming_its_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELOPS_GATEWAY_REFRESH_SECONDS", "soon")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [problem["loc"] for problem in caught.value.errors()] == [("gateway_refresh_seconds",)]
