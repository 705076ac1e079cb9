"""`modelops ab …`: define (plan) an A/B test, list and show tests with their looks, stop one."""

from __future__ import annotations

import getpass
import re
from datetime import datetime
from typing import Annotated

import typer

from modelops.cli.context import runtime
from modelops.cli.errors import BadInput
from modelops.cli.output import print_json, print_table, say
from registry.abtests import (
    ABTest,
    ABTestDefinition,
    ABTestRepository,
    Look,
    MetricResult,
    Stopping,
)
from registry.stages import Stage

app = typer.Typer(
    help="A/B tests of MODELOPS_TEAM: two versions on an endpoint, looked at until a verdict.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
TestId = Annotated[int, typer.Argument(min=1, help="The test's id (see `modelops ab list`).")]
_VARIANT = re.compile(r"v?(\d+)=(\d+)")
_GUARDRAIL = re.compile(r"([a-z][a-z0-9_.]*)(?::(higher|lower))?:([0-9.eE+-]+)(%?)")
_PRIMARY = re.compile(r"([a-z][a-z0-9_.]*)(?::(higher|lower))?")


@app.command("create")
def create_cmd(
    endpoint: Annotated[str, typer.Argument(help="The endpoint to split, e.g. support-prod.")],
    variant: Annotated[
        list[str],
        typer.Option(
            "--variant", metavar="V=W", help="Twice: a (the control) then b, e.g. 3=50 4=50."
        ),
    ],
    primary: Annotated[
        str,
        typer.Option(
            "--primary", metavar="METRIC[:higher|lower]", help="The metric the verdict is about."
        ),
    ],
    mde: Annotated[
        float, typer.Option("--mde", help="Minimum detectable effect, absolute (0.03 = 3 points).")
    ],
    guardrail: Annotated[
        list[str] | None,
        typer.Option(
            "--guardrail",
            metavar="METRIC[:higher|lower]:MARGIN[%]",
            help="A metric b must not worsen by more than MARGIN (% = of a's value).",
        ),
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Error rate, in (0, 1).")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="Power at the MDE, in (0, 1).")] = 0.8,
    fixed_horizon: Annotated[
        bool, typer.Option("--fixed-horizon", help="Decide once, at the planned sample.")
    ] = False,
    max_hours: Annotated[float, typer.Option("--max-hours", help="Maximum duration in hours.")] = 14
    * 24,
    min_sample: Annotated[
        int, typer.Option("--min-sample", help="No verdict before each arm has this many.")
    ] = 100,
    promote_to: Annotated[
        str,
        typer.Option(
            "--promote-to",
            help="Stage a winning b is promoted to (testing|staging|production|none).",
        ),
    ] = "production",
    name: Annotated[str, typer.Option("--name", help="A label for people.")] = "",
    actor: Annotated[str | None, typer.Option("--actor", help="Who runs the test.")] = None,
    json: JsonFlag = False,
) -> None:
    """Plan an A/B test: check it against the endpoint and size it from the last hour of
    traffic. The endpoint is split when the ab-test flow starts it."""
    from registry.abtests.lifecycle import create_test  # loads scipy: only when planning

    definition = ABTestDefinition.model_validate(
        {
            "endpoint": endpoint,
            "variants": [parse_variant(item) for item in variant],
            "primary": {**parse_primary(primary), "mde": mde},
            "guardrails": [parse_guardrail(item) for item in guardrail or []],
            "alpha": alpha,
            "power": power,
            "mode": Stopping.FIXED if fixed_horizon else Stopping.SEQUENTIAL,
            "max_duration_hours": max_hours,
            "min_sample_per_arm": min_sample,
            "promote_to": None if promote_to.lower() == "none" else _stage(promote_to),
            "name": name,
            "actor": actor or getpass.getuser(),
        }
    )
    with runtime() as rt, rt.transaction() as session:
        test = create_test(session, rt.require_team(session), definition)
    if json:
        print_json(ab_test_json(test))
        return
    say(f"planned A/B test #{test.id}: {_summary(test)}")
    say(f"plan: {_plan_text(test)}")
    say(f"start it: modelops run ab-test --param test_id={test.id}")


@app.command("list")
def list_cmd(json: JsonFlag = False) -> None:
    """List the team's A/B tests."""
    with runtime() as rt, rt.transaction() as session:
        tests = ABTestRepository(session, rt.team(session)).list()
    if json:
        print_json([ab_test_json(test) for test in tests])
        return
    print_table(
        f"A/B tests of team {rt.settings.team}",
        ["id", "endpoint", "a", "b", "status", "verdict", "looks", "started"],
        [
            (t.id, t.endpoint, _arm(t, 0), _arm(t, 1), t.status, t.verdict, t.looks, t.started_at)
            for t in tests
        ],
    )


@app.command("show")
def show_cmd(test_id: TestId, json: JsonFlag = False) -> None:
    """Show one test: definition, plan, verdict and what was done, and every look."""
    with runtime() as rt, rt.transaction() as session:
        tests = ABTestRepository(session, rt.team(session))
        test, looks = tests.get(test_id), tests.looks(test_id)
    if json:
        print_json({**ab_test_json(test), "looks_detail": [look_json(look) for look in looks]})
        return
    say(f"A/B test #{test.id} ({test.status}): {_summary(test)}")
    say(f"plan: {_plan_text(test)}")
    if test.verdict is not None:
        say(f"verdict: {test.verdict}: {_plain(test.verdict_reason)}")
    if test.action:
        say(f"done: {_plain(test.action)}")
    if looks:
        last = looks[-1]
        print_table(
            f"look {last.number} of {len(looks)} ({last.at:%Y-%m-%d %H:%M:%S} UTC)",
            ["metric", "a", "b", "b - a", "interval", "p", "Holm p", "decision"],
            [_metric_cells(m) for m in last.result.metrics],
        )
        srm = last.result.srm
        say(
            f"sample ratio: a {srm.counts[0]}, b {srm.counts[1]}; p {srm.p_value:.3g}"
            f"{' MISMATCH' if srm.mismatch else ''}"
        )


@app.command("stop")
def stop_cmd(
    test_id: TestId,
    actor: Annotated[str, typer.Option("--actor", help="Who stops it (kept in the ledger).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the ledger).")],
    json: JsonFlag = False,
) -> None:
    """Stop a test now: a last look, the routes from before restored, the endpoint released."""
    from registry.abtests.settle import stop_test  # loads scipy: only when stopping

    if not actor.strip() or not reason.strip():
        raise BadInput("--actor and --reason must not be empty")
    with runtime() as rt, rt.transaction() as session:
        test = stop_test(session, rt.require_team(session), test_id, actor=actor, reason=reason)
    if json:
        print_json(ab_test_json(test))
        return
    say(f"A/B test #{test.id} stopped: {_plain(test.verdict_reason)}")
    say(_plain(test.action))


def parse_variant(item: str) -> dict[str, int]:
    found = _VARIANT.fullmatch(item.strip().lower())
    if found is None:
        raise BadInput(f"--variant {item!r}: expected a version, '=' and a percent, e.g. 3=50")
    return {"version": int(found.group(1)), "weight": int(found.group(2))}


def parse_primary(item: str) -> dict[str, str | None]:
    found = _PRIMARY.fullmatch(item.strip())
    if found is None:
        raise BadInput(f"--primary {item!r}: expected METRIC or METRIC:higher|lower")
    return {"metric": found.group(1), "better": found.group(2)}


def parse_guardrail(item: str) -> dict[str, object]:
    found = _GUARDRAIL.fullmatch(item.strip())
    if found is None:
        raise BadInput(
            f"--guardrail {item!r}: expected METRIC[:higher|lower]:MARGIN[%], e.g. "
            "latency_p95:10% or cost_per_request:50"
        )
    try:
        margin = float(found.group(3))
    except ValueError:
        raise BadInput(f"--guardrail {item!r}: {found.group(3)!r} is not a number") from None
    relative = found.group(4) == "%"
    return {
        "metric": found.group(1),
        "better": found.group(2),
        "margin": margin / 100 if relative else margin,
        "relative": relative,
    }


def _stage(value: str) -> Stage:
    try:
        return Stage(value.lower())
    except ValueError:
        raise BadInput(
            f"--promote-to {value!r}: expected testing, staging, production or none"
        ) from None


def ab_test_json(test: ABTest) -> dict[str, object]:
    return {
        "id": test.id,
        "name": test.name,
        "endpoint": test.endpoint,
        "model": test.model,
        "status": test.status.value,
        "variants": [v.model_dump(mode="json") for v in test.definition.variants],
        "definition": test.definition.model_dump(mode="json"),
        "plan": test.plan.model_dump(mode="json"),
        "verdict": test.verdict.value if test.verdict else None,
        "verdict_reason": test.verdict_reason,
        "action": test.action,
        "looks": test.looks,
        "created_by": test.created_by,
        "created_at": test.created_at.isoformat(),
        "started_at": _iso(test.started_at),
        "deadline_at": _iso(test.deadline_at),
        "concluded_at": _iso(test.concluded_at),
        "finished_at": _iso(test.finished_at),
        "flow_run_id": test.flow_run_id,
    }


def look_json(look: Look) -> dict[str, object]:
    return {
        "number": look.number,
        "at": look.at.isoformat(),
        "a": look.a.model_dump(mode="json"),
        "b": look.b.model_dump(mode="json"),
        "result": look.result.model_dump(mode="json"),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _arm(test: ABTest, index: int) -> str:
    variant = test.definition.variants[index]
    return f"v{variant.version} {variant.weight}%"


def _summary(test: ABTest) -> str:
    d = test.definition
    guard = ", ".join(g.metric for g in d.guardrails) or "none"
    design = "sequential" if d.mode is Stopping.SEQUENTIAL else "fixed horizon"
    return _plain(
        f"{test.endpoint}: v{d.a.version} (a, {d.a.weight}%) vs v{d.b.version} (b, "
        f"{d.b.weight}%); {d.primary.metric} ({d.primary.direction} is better), MDE "
        f"{d.primary.mde:g}; guardrails {guard}; {design}, alpha {d.alpha:g}"
    )


def _plan_text(test: ABTest) -> str:
    plan = test.plan
    if plan.n_a is None:
        return _plain(plan.note)
    hours = (
        f"about {plan.expected_minutes / 60:.3g} h at current traffic"
        if plan.expected_minutes is not None
        else "duration unknown (no current traffic)"
    )
    return _plain(
        f"{plan.n_a} + {plan.n_b} units (fixed horizon: {plan.fixed_n_a} + {plan.fixed_n_b}), "
        f"{hours}; at most {test.definition.max_duration_hours:g} h"
    )


def _metric_cells(m: MetricResult) -> tuple[str, ...]:
    low, high = m.diff_ci
    return (
        f"{m.metric} ({m.role}, {m.better} is better)",
        f"{m.estimate_a:.6g}",
        f"{m.estimate_b:.6g}",
        f"{m.diff:.6g}",
        f"[{'-inf' if low is None else f'{low:.6g}'}, {'inf' if high is None else f'{high:.6g}'}]",
        f"{m.p_value:.4g}",
        "-" if m.p_adjusted is None else f"{m.p_adjusted:.4g}",
        str(m.decision),
    )


def _plain(text: str) -> str:
    """Text from the database on one line (the output layer prints it as it is)."""
    return "".join(c if c.isprintable() else " " for c in text)
