"""Seeded simulations of the whole look-and-verdict procedure (`judge_look`), in analysis
terms: each arm's sufficient statistics drawn batch by batch, the procedure run after every
batch exactly as the flow runs it. The figures are printed (`pytest -s`) for the record.

Setting: success rate 0.90, MDE 3 points, alpha 0.05, power 0.8, a 50/50 split; each batch
is 200 requests split by a fair coin (as sticky hashing splits keys).
"""

from __future__ import annotations

import numpy as np

from analysis import sample_size_proportions, sequential_sample_size
from registry.abtests import ABTestDefinition, Plan, VerdictKind
from registry.abtests.domain import ArmData, ProportionData
from registry.abtests.judge import judge_look
from tests.registry.abtest_support import definition

RATE, MDE, ALPHA, POWER = 0.90, 0.03, 0.05, 0.80
BATCH = 200
WINNERS = (VerdictKind.A_WINS, VerdictKind.B_WINS)


def _plan(mode: str) -> tuple[ABTestDefinition, Plan]:
    made = definition(mode=mode, alpha=ALPHA, power=POWER)
    fixed = sample_size_proportions(RATE, MDE, alpha=ALPHA, power=POWER)
    planned = sequential_sample_size(fixed) if mode == "sequential" else fixed
    plan = Plan(
        baseline_minutes=60, baseline_requests=10_000, baseline=RATE, baseline_sd=None,
        requests_per_minute=100.0, fixed_n_a=fixed.n_a, fixed_n_b=fixed.n_b, n_a=planned.n_a,
        n_b=planned.n_b, n_star=float(planned.total), expected_minutes=None, note="",
    )  # fmt: skip
    return made, plan


def _arm(version: int, n: int, successes: int) -> ArmData:
    data = ProportionData(n=n, successes=successes)
    return ArmData(version=version, requests=n, metrics={"success_rate": data})


def _run_sequential(
    rng: np.random.Generator, rate_b: float, until_n: int, made: ABTestDefinition, plan: Plan
) -> VerdictKind | None:
    """Looks after every batch until a verdict or until each arm has about `until_n`."""
    n = [0, 0]
    ok = [0, 0]
    while min(n) < until_n:
        to_b = int(rng.binomial(BATCH, 0.5))
        for arm, size, rate in ((0, BATCH - to_b, RATE), (1, to_b, rate_b)):
            n[arm] += size
            ok[arm] += int(rng.binomial(size, rate))
        result = judge_look(made, plan, _arm(1, n[0], ok[0]), _arm(2, n[1], ok[1]))
        if result.verdict is not None:
            return result.verdict
    return None


def _at_horizon(rng: np.random.Generator, rate_b: float, made: ABTestDefinition, plan: Plan):  # type: ignore[no-untyped-def]
    assert plan.n_a is not None and plan.n_b is not None
    a = _arm(1, plan.n_a, int(rng.binomial(plan.n_a, RATE)))
    b = _arm(2, plan.n_b, int(rng.binomial(plan.n_b, rate_b)))
    return judge_look(made, plan, a, b).verdict


def test_sequential_false_positive_rate_with_a_look_after_every_batch_is_at_most_alpha() -> None:
    made, plan = _plan("sequential")
    assert plan.n_a is not None
    rng = np.random.default_rng(20261201)
    runs = 600
    verdicts = [_run_sequential(rng, RATE, 3 * plan.n_a, made, plan) for _ in range(runs)]
    false_winners = sum(v in WINNERS for v in verdicts) / runs
    equivalent = sum(v is VerdictKind.NO_DIFFERENCE for v in verdicts) / runs
    srm = sum(v is VerdictKind.INVALID_SRM for v in verdicts) / runs
    print(
        f"\nsequential A/A, {runs} runs, a look every {BATCH} requests up to 3x the planned "
        f"{plan.n_a}/arm: false winners {false_winners:.4f} (alpha {ALPHA}), "
        f"no difference within MDE {equivalent:.4f}, invalid SRM {srm:.4f}"
    )
    assert false_winners <= ALPHA


def test_fixed_horizon_false_positive_rate_is_alpha_within_one_and_a_half_points() -> None:
    made, plan = _plan("fixed")
    rng = np.random.default_rng(7)
    runs = 4000
    verdicts = [_at_horizon(rng, RATE, made, plan) for _ in range(runs)]
    rate = sum(v in WINNERS for v in verdicts) / runs
    print(f"\nfixed-horizon A/A, {runs} runs at n = {plan.n_a}/arm: false winners {rate:.4f}")
    assert abs(rate - ALPHA) <= 0.015


def _power_at_horizon(mode: str, runs: int, seed: int) -> tuple[float, Plan]:
    made, plan = _plan(mode)
    rng = np.random.default_rng(seed)
    wins = sum(_at_horizon(rng, RATE + MDE, made, plan) is VerdictKind.B_WINS for _ in range(runs))
    return wins / runs, plan


def test_power_at_the_planned_sample_is_the_planned_power() -> None:
    """Fixed horizon: the power at its planned n. Sequential: the power of one look at its
    planned n is the plan too (that is what `sequential_sample_size` solves for), and with a
    look after every batch the test stops for b by then at least as often."""
    runs = 4000
    fixed_power, plan = _power_at_horizon("fixed", runs, 11)
    one_look, plan_s = _power_at_horizon("sequential", runs, 12)
    made_s = definition(mode="sequential", alpha=ALPHA, power=POWER)
    assert plan_s.n_a is not None
    rng = np.random.default_rng(13)
    runs_s = 600
    by_n = (
        sum(
            _run_sequential(rng, RATE + MDE, plan_s.n_a, made_s, plan_s) is VerdictKind.B_WINS
            for _ in range(runs_s)
        )
        / runs_s
    )
    print(
        f"\npower for +{MDE} (plan {POWER}): fixed horizon at {plan.n_a}/arm {fixed_power:.4f} "
        f"({runs} runs); sequential, one look at its planned {plan_s.n_a}/arm {one_look:.4f} "
        f"({runs} runs), a look every {BATCH} requests until then {by_n:.4f} ({runs_s} runs)"
    )
    assert abs(fixed_power - POWER) <= 0.03
    assert abs(one_look - POWER) <= 0.03
    assert by_n >= POWER - 0.03
