"""Markdown and table rows of a rollout, for the Prefect UI (and a paused run's form)."""

from __future__ import annotations

from registry.rollouts.arms import p95_ms
from registry.rollouts.domain import ArmSums, Measurement, Rollout


def rate(arm: ArmSums) -> str:
    value = arm.error_rate
    return "-" if value is None else f"{value:.2%}"


def p95(arm: ArmSums) -> str:
    value = p95_ms(arm)
    return "-" if value is None else f"{value:.1f} ms"


def progress_markdown(rollout: Rollout, weights: str, looked: list[Measurement]) -> str:
    steps = " → ".join(
        f"**{w}%**" if i == rollout.step else f"{w}%" for i, w in enumerate(rollout.policy.steps)
    )
    lines = [
        f"# Rollout #{rollout.id}: {rollout.model} v{rollout.version} on `{rollout.endpoint}`",
        "",
        f"- strategy: {rollout.strategy}; status: **{rollout.status}**",
        f"- steps: {steps} (step {rollout.step + 1} of {len(rollout.policy.steps)})",
        f"- routes now: {weights}",
        f"- measurements: {len(looked)}",
    ]
    if rollout.outcome:
        lines.append(f"- outcome: {rollout.outcome}")
    if looked:
        lines += ["", measurement_markdown(looked[-1])]
    return "\n".join(lines)


def measurement_markdown(measurement: Measurement) -> str:
    base, cand = measurement.baseline, measurement.candidate
    lines = [
        f"## Measurement {measurement.number} (step {measurement.step + 1}): "
        f"**{measurement.verdict}**",
        "",
        "| arm | versions | requests | error rate | p95 |",
        "|---|---|---|---|---|",
        f"| baseline | {_versions(base)} | {base.requests} | {rate(base)} | {p95(base)} |",
        f"| candidate | {_versions(cand)} | {cand.requests} | {rate(cand)} | {p95(cand)} |",
        "",
        *(f"- {reason}" for reason in measurement.reasons),
    ]
    return "\n".join(lines)


def measurement_rows(looked: list[Measurement]) -> list[dict[str, str | int]]:
    return [
        {
            "number": m.number,
            "step": m.step + 1,
            "at": f"{m.at:%H:%M:%S}",
            "baseline requests": m.baseline.requests,
            "baseline errors": rate(m.baseline),
            "candidate requests": m.candidate.requests,
            "candidate errors": rate(m.candidate),
            "candidate p95": p95(m.candidate),
            "verdict": m.verdict.value,
            "reasons": "; ".join(m.reasons),
        }
        for m in looked
    ]


def _versions(arm: ArmSums) -> str:
    return ", ".join(f"v{v}" for v in arm.versions) or "-"
