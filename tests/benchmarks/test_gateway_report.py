"""The gateway benchmark's targets, stated as modelops / LiteLLM ratios (DESIGN §7)."""

from __future__ import annotations

from benchmarks.gateway_report import ratios

# LiteLLM's figures from a quiet 2-core machine: +12.3 ms p50, 62 rps, 13 ms CPU per request.
LITELLM = {"added_p50": 12.3, "rps_c32": 62.0, "cpu_ms_per_request": 13.0}


def test_each_target_is_judged_in_its_own_direction() -> None:
    ours = {"added_p50": 1.0, "rps_c32": 1240.0, "cpu_ms_per_request": 1.4}
    judged = ratios(ours, LITELLM)
    assert judged["added_p50"] == {"ratio": 1.0 / 12.3, "target": "<= 0.1", "met": True}
    assert judged["rps_c32"] == {"ratio": 20.0, "target": ">= 20", "met": True}
    assert judged["cpu_ms_per_request"] == {"ratio": 1.4 / 13.0, "target": "<= 0.1", "met": False}


def test_a_missing_or_zero_figure_is_unknown_rather_than_met() -> None:
    judged = ratios({"added_p50": None, "rps_c32": 900.0}, {**LITELLM, "rps_c32": 0.0})
    assert judged["added_p50"] == {"ratio": None, "target": "<= 0.1", "met": None}
    assert judged["rps_c32"] == {"ratio": None, "target": ">= 20", "met": None}
    assert judged["cpu_ms_per_request"] == {"ratio": None, "target": "<= 0.1", "met": None}
