"""The catalog's `alerts:` section: rules validated like the rest of the catalog (file,
field, allowed values), written by `catalog sync` onto their model, nothing on error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from registry.catalog import CatalogError, load_catalog
from registry.catalog_sync import SyncAction, apply_sync, plan_sync
from registry.database import make_engine, make_session_factory
from registry.tables import ModelRow
from tests.registry.test_catalog_support import make_catalog, model_doc, snapshot

FILE = "models/support-intent.yaml"
VALID = {
    "name": "error-rate",
    "kind": "threshold",
    "metric": "error_rate",
    "above": 0.05,
    "window": "5m",
    "for": "2m",
    "severity": "critical",
}


def _problems(tmp_path: Path, *rules: dict[str, Any]) -> list[str]:
    make_catalog(tmp_path, model_doc(alerts=list(rules)))
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (
            VALID | {"metric": "latency"},
            "alerts[0].metric: 'latency' is not a known metric; allowed: error_rate, "
            "latency_p95_ms, latency_p99_ms, ttft_p95_ms, quality_mean, cost_per_request_usd",
        ),
        (
            VALID | {"window": "5x"},
            "alerts[0].window: '5x' is not a duration: use whole minutes, hours or days such "
            "as 5m, 6h or 3d (or 0)",
        ),
        (VALID | {"window": "90s"}, "alerts[0].window: '90s' is not a duration"),
        (VALID | {"window": "60d"}, "alerts[0].window: 60d is out of range: between 1m and 30d"),
        (
            VALID | {"severity": "page"},
            "alerts[0].severity: 'page' is not a known severity; allowed: critical, error, "
            "warning, info",
        ),
        (
            VALID | {"kind": "treshold"},
            "alerts[0].kind: 'treshold' is not a known alert rule kind (did you mean "
            "'threshold'?); allowed: threshold, burn_rate, key_pool, event, budget",
        ),
        (
            VALID | {"windw": "5m"},
            "alerts[0].windw: unknown field 'windw' (did you mean 'window'?); allowed fields: "
            "name, kind, severity, endpoint, summary, for, keep_firing_for",
        ),
        (
            {k: v for k, v in VALID.items() if k != "above"},
            "alerts[0]: a threshold rule fires above a value or below one: give one of them",
        ),
        (
            VALID | {"below": 0.01},
            "alerts[0]: a threshold rule fires above a value or below one",
        ),
        (VALID | {"above": 5}, "alerts[0]: error_rate is a fraction of requests: 0 to 1 (got 5"),
        (
            {"name": "slo", "kind": "burn_rate"},
            "alerts[0]: burn_rate rules need objective; burn_rate rules take objective, pairs",
        ),
        (
            {"name": "slo", "kind": "burn_rate", "objective": 0.99, "metric": "error_rate"},
            "alerts[0]: metric do not apply to burn_rate rules",
        ),
        (
            {"name": "slo", "kind": "burn_rate", "objective": 0.9},
            "alerts[0]: the 1h/5m pair can never fire: 14.4 x (1 - 0.9) = 1.44 of requests "
            "failing is more than all of them",
        ),
        (
            {
                "name": "slo",
                "kind": "burn_rate",
                "objective": 0.999,
                "pairs": [{"long": "5m", "short": "1h", "factor": 2}],
            },
            "alerts[0].pairs[0]: the short window (1h) must be shorter than the long one (5m)",
        ),
        (
            {"name": "keys", "kind": "key_pool", "condition": "empty"},
            "alerts[0].condition: 'empty' is not a known key pool condition; allowed: "
            "exhausted, unauthorized",
        ),
        (
            {"name": "rb", "kind": "event", "events": ["rollout.rollback"]},
            "alerts[0].events[0]: 'rollout.rollback' is not a known event (did you mean "
            "'rollout.rolled_back'?)",
        ),
        (VALID | {"name": "Error Rate"}, "alerts[0].name: 'Error Rate' is not allowed"),
    ],
)
def test_a_bad_rule_is_reported_with_its_file_field_and_allowed_values(
    tmp_path: Path, rule: dict[str, Any], problem: str
) -> None:
    found = _problems(tmp_path, rule)
    assert len(found) == 1, found
    assert found[0].startswith(f"{FILE}: {problem}"), found[0]


def test_two_rules_of_one_name_are_refused(tmp_path: Path) -> None:
    found = _problems(tmp_path, VALID, VALID | {"window": "1h"})
    assert found == [f"{FILE}: alerts: alert rules are named twice: error-rate"]


def test_rules_sync_onto_their_model_and_a_bad_one_writes_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    good = make_catalog(tmp_path / "good", model_doc(alerts=[VALID]))
    with sessions.begin() as session:
        apply_sync(session, plan_sync(session, load_catalog(good)))
    with sessions() as session:
        stored = session.scalars(select(ModelRow.alerts)).one()
    assert stored == [
        {
            "name": "error-rate",
            "kind": "threshold",
            "severity": "critical",
            "summary": "",
            "for": 120,
            "min_samples": 50,
            "escalation": [],
            "ack_timeout": 1800,
            "metric": "error_rate",
            "window": 300,
            "above": 0.05,
        }
    ]
    edited = make_catalog(tmp_path / "edited", model_doc(alerts=[VALID | {"above": 0.1}]))
    with sessions() as session:
        [change] = [
            c for c in plan_sync(session, load_catalog(edited)).changes if c.kind == "model"
        ]
    assert (change.action, change.changes) == (SyncAction.UPDATE, ["alerts"])
    before = snapshot(pg_url)
    make_catalog(tmp_path / "bad", model_doc(alerts=[VALID | {"severity": "page"}]))
    with pytest.raises(CatalogError):
        load_catalog(tmp_path / "bad")
    assert snapshot(pg_url) == before
    engine.dispose()
