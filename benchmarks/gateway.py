"""Gateway overhead, side by side in one run: direct → a fast fake OpenAI upstream, LiteLLM's
proxy → upstream, and the modelops gateway → upstream (DESIGN §7).

    .venv/bin/python -m benchmarks.gateway [--duration 10] [--rounds 1] [--json]
        [--legs direct,litellm,modelops,modelops-granian] [--litellm-venv PATH]
        [--gateway-cmd CMD] [--keep]

`modelops` is `modelops gateway` on uvicorn, `modelops-granian` the same with `--server
granian`; each is compared with LiteLLM. LiteLLM's venv is `--litellm-venv`, else
$MODELOPS_BENCH_LITELLM_VENV, else `.venv-litellm` in the repository, created there with
`pip install 'litellm[proxy]==1.108.7'` when missing. To make it by hand (any path):

    python3 -m venv /work/litellm-venv
    /work/litellm-venv/bin/pip install 'litellm[proxy]==1.108.7' py-spy
    export MODELOPS_BENCH_LITELLM_VENV=/work/litellm-venv

Per leg, after a check that it answers a chat completion: wrk at concurrency 1 (p50, p99), then
at concurrency 32 (throughput, and the CPU its server process tree used per request). Needs wrk
(`apt-get install wrk`); creates LiteLLM's venv if missing and, for the modelops leg, a
throwaway database on MODELOPS_TEST_DATABASE_URL's server. Everything started is stopped and
dropped at the end, also on Ctrl-C or an error (--keep leaves the work files and database).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from benchmarks.gateway_checks import CHECK_REQUESTS, chat_body, check_chat, check_stream
from benchmarks.gateway_legs import DirectLeg, Leg, LiteLLMLeg, Target, Upstream
from benchmarks.gateway_modelops import DEFAULT_COMMAND, DEFAULT_SERVER, ModelopsLeg
from benchmarks.gateway_procs import (
    REPO,
    BenchmarkError,
    Service,
    free_port,
    say,
    tree_cpu_seconds,
    tree_pythonpath,
)
from benchmarks.gateway_report import LegResult, report, text_table
from benchmarks.gateway_wrk import WrkResult, run_wrk, wrk_binary

LEGS = ("direct", "litellm", "modelops", "modelops-granian")


@dataclass
class LiveLeg:
    """A leg whose server is up and answered the checks; `served` counts what it answered."""

    leg: Leg
    target: Target
    stack: ExitStack
    result: LegResult
    served: int = CHECK_REQUESTS

    def load(self, connections: int, seconds: int) -> WrkResult:
        target = self.target
        run = run_wrk(
            target.url,
            chat_body(target.model),
            target.authorization,
            connections=connections,
            seconds=seconds,
        )
        self.served += run.requests
        return run

    def one_round(self, seconds: int) -> None:
        """c=1 for latency, then c=32 for throughput and the CPU the server tree used."""
        self.result.c1.append(self.load(1, seconds))
        before = tree_cpu_seconds(self.target.server_pid)
        self.result.c32.append(self.load(32, seconds))
        self.result.cpu_seconds_c32 += tree_cpu_seconds(self.target.server_pid) - before

    def finish(self) -> None:
        self.result.extra = self.leg.after_run(self.target, self.served)


def start_leg(leg: Leg, stack: ExitStack, upstream: Upstream, workdir: Path) -> LiveLeg | LegResult:
    reason = leg.unavailable()
    if reason is not None:
        say(f"{leg.name}: skipped: {reason}")
        return LegResult(leg.name, leg.label, status="skipped", reason=reason)
    say(f"{leg.name}: starting")
    own = stack.enter_context(ExitStack())
    try:
        target = leg.start(own, upstream, workdir)
        check_chat(target)
        result = LegResult(leg.name, leg.label, status="ok", stream_check=check_stream(target))
    except BenchmarkError as exc:
        own.close()
        return _broken(leg, exc)
    say(f"{leg.name}: answers a chat completion")
    return LiveLeg(leg, target, own, result)


def measure(
    legs: list[Leg], upstream: Upstream, workdir: Path, args: argparse.Namespace
) -> list[LegResult]:
    """Every leg up at once, then their runs interleaved round by round, so that the load of
    a shared machine falls on all of them alike."""
    with ExitStack() as stack:
        started = [start_leg(leg, stack, upstream, workdir) for leg in legs]
        live = [leg for leg in started if isinstance(leg, LiveLeg)]
        _each(live, f"warm-up, c=32 for {args.warmup} s", lambda leg: leg.load(32, args.warmup))
        for number in range(1, args.rounds + 1):
            step = f"round {number} of {args.rounds}: c=1, then c=32, {args.duration} s each"
            _each(live, step, lambda leg: leg.one_round(args.duration))
        _each(live, "done; its own figures", LiveLeg.finish)
        return [leg.result if isinstance(leg, LiveLeg) else leg for leg in started]


def _each(live: list[LiveLeg], step: str, action: Callable[[LiveLeg], object]) -> None:
    """One step on every live leg; a leg that breaks is stopped and left out from then on."""
    for leg in list(live):
        say(f"{leg.leg.name}: {step}")
        try:
            action(leg)
        except BenchmarkError as exc:
            leg.stack.close()
            live.remove(leg)
            leg.result = _broken(leg.leg, exc)


def _broken(leg: Leg, exc: BenchmarkError) -> LegResult:
    say(f"{leg.name}: broken: {exc}")
    return LegResult(leg.name, leg.label, status="broken", reason=exc.summary)


def start_upstream(stack: ExitStack, workdir: Path) -> Upstream:
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.gateway_upstream", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": tree_pythonpath()}
    service = Service("fake upstream", argv, workdir / "upstream.log", env, cwd=REPO)
    stack.callback(service.stop)
    service.wait_listening(port, timeout=30)
    return Upstream(base_url=f"http://127.0.0.1:{port}/v1", service=service)


def build_legs(args: argparse.Namespace) -> list[Leg]:
    legs: dict[str, Leg] = {
        "direct": DirectLeg(),
        "litellm": LiteLLMLeg(args.litellm_venv, args.startup_timeout),
        "modelops": ModelopsLeg(args.server, args.gateway_cmd, args.startup_timeout, args.keep),
        "modelops-granian": ModelopsLeg(
            args.server, args.gateway_cmd, args.startup_timeout, args.keep, "granian"
        ),
    }
    return [legs[name] for name in args.legs]


def run(args: argparse.Namespace) -> dict[str, object]:
    wrk_binary()  # fail before starting anything
    load_before = _load()
    workdir = Path(tempfile.mkdtemp(prefix="modelops-gateway-bench-"))
    with ExitStack() as stack:
        if args.keep:
            say(f"keeping work files (configs, logs) in {workdir}")
        else:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        upstream = start_upstream(stack, workdir)
        results = measure(build_legs(args), upstream, workdir, args)
    context: dict[str, object] = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": _load(),
    }
    return report(results, context)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _legs(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(LEGS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"legs are a comma-separated subset of {','.join(LEGS)}")
    return [name for name in LEGS if name in names]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    summary = " ".join((__doc__ or "").split("\n\n")[0].split())
    parser = argparse.ArgumentParser(prog="benchmarks.gateway", description=summary)
    parser.add_argument("--duration", type=int, default=10, help="seconds per timed run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per leg")
    parser.add_argument(
        "--rounds", type=int, default=1, help="interleaved rounds per leg; figures are medians"
    )
    parser.add_argument("--legs", type=_legs, default=list(LEGS), help=",".join(LEGS))
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--keep", action="store_true", help="keep work files and the database")
    parser.add_argument(
        "--litellm-venv",
        type=Path,
        default=Path(os.environ.get("MODELOPS_BENCH_LITELLM_VENV") or REPO / ".venv-litellm"),
        help="venv with LiteLLM's proxy (created if missing; default "
        "$MODELOPS_BENCH_LITELLM_VENV, else .venv-litellm in the repository)",
    )
    parser.add_argument(
        "--gateway-cmd",
        default=DEFAULT_COMMAND,
        help="how the modelops gateway starts; {python} and {port} are filled in",
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("MODELOPS_TEST_DATABASE_URL", DEFAULT_SERVER),
        help="PostgreSQL server for the modelops leg's throwaway database",
    )
    parser.add_argument(
        "--startup-timeout", type=float, default=180.0, help="seconds a server may take to listen"
    )
    args = parser.parse_args(argv)
    if min(args.duration, args.warmup, args.rounds) < 1:
        parser.error("--duration, --warmup and --rounds are whole numbers, at least 1")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds the ExitStacks: every process stopped, database dropped


def main() -> None:
    args = parse_args()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)  # also when started in the background (SIGINT ignored)
    try:
        data = run(args)
    except BenchmarkError as exc:
        say(f"error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        say("interrupted: everything this run started is stopped")
        sys.exit(130)
    print(json.dumps(data, indent=2) if args.json else text_table(data))


if __name__ == "__main__":
    main()
