"""Gateway overhead, side by side in one run: direct → a fast fake OpenAI upstream, LiteLLM's
proxy → upstream, and the modelops gateway → upstream (DESIGN §7).

    .venv/bin/python -m benchmarks.gateway [--duration 10] [--json]
        [--legs direct,litellm,modelops] [--litellm-venv PATH] [--gateway-cmd CMD] [--keep]

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
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

import httpx

from benchmarks.gateway_legs import DirectLeg, Leg, LiteLLMLeg, Target, Upstream
from benchmarks.gateway_modelops import DEFAULT_COMMAND, DEFAULT_SERVER, ModelopsLeg
from benchmarks.gateway_procs import (
    REPO,
    BenchmarkError,
    Service,
    free_port,
    tree_cpu_seconds,
    tree_pythonpath,
)
from benchmarks.gateway_report import LegResult, report, text_table
from benchmarks.gateway_upstream import REPLY
from benchmarks.gateway_wrk import run_wrk, wrk_binary

LEGS = ("direct", "litellm", "modelops")
VERIFY_REQUESTS = 2  # the plain and the streamed check, both served (and recorded) by the leg


def chat_body(model: str, *, stream: bool = False) -> str:
    request = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 8}
    return json.dumps({**request, "stream": True} if stream else request)


def _headers(target: Target) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    return {**headers, "authorization": target.authorization} if target.authorization else headers


def check_chat(target: Target) -> None:
    """One plain completion must come back whole, or the leg is broken, not timed."""
    try:
        response = httpx.post(
            target.url, content=chat_body(target.model), headers=_headers(target), timeout=30
        )
    except httpx.HTTPError as exc:
        raise BenchmarkError(f"no answer to a chat completion: {exc!r}") from None
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        content = None
    if response.status_code != 200 or content != REPLY:
        raise BenchmarkError(
            f"a chat completion got HTTP {response.status_code}, not {REPLY!r} in choices: "
            f"{response.text[:300]!r}"
        )


def check_stream(target: Target) -> str:
    """ "ok" when the streamed answer reassembles to the upstream's and ends with [DONE]."""
    body, parts, events = chat_body(target.model, stream=True), [], []
    try:
        with httpx.stream(
            "POST", target.url, content=body, headers=_headers(target), timeout=30
        ) as response:
            if response.status_code != 200:
                return f"HTTP {response.status_code}: {response.read()[:300]!r}"
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        for event in events[:-1]:
            for choice in json.loads(event)["choices"]:
                parts.append(choice.get("delta", {}).get("content") or "")
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return f"{exc!r}"
    if not events or events[-1] != "[DONE]":
        return f"the stream did not end with data: [DONE] ({len(events)} events)"
    return "ok" if "".join(parts) == REPLY else f"content {''.join(parts)!r}, not {REPLY!r}"


def measure(leg: Leg, upstream: Upstream, workdir: Path, args: argparse.Namespace) -> LegResult:
    result = LegResult(leg.name, leg.label, status="ok")
    with ExitStack() as stack:
        target = leg.start(stack, upstream, workdir)
        check_chat(target)
        result.stream_check = check_stream(target)
        body = chat_body(target.model)
        _say(f"{leg.name}: answers; warming up, then c=1 and c=32 for {args.duration} s each")
        warm = run_wrk(target.url, body, target.authorization, connections=32, seconds=args.warmup)
        result.c1 = run_wrk(
            target.url, body, target.authorization, connections=1, seconds=args.duration
        )
        cpu_before = tree_cpu_seconds(target.server_pid)
        result.c32 = run_wrk(
            target.url, body, target.authorization, connections=32, seconds=args.duration
        )
        cpu_used = tree_cpu_seconds(target.server_pid) - cpu_before
        if result.c32.requests:
            result.cpu_ms_per_request = cpu_used * 1000 / result.c32.requests
        completed = VERIFY_REQUESTS + warm.requests + result.c1.requests + result.c32.requests
        result.extra = leg.after_run(target, completed)
    return result


def run_leg(leg: Leg, upstream: Upstream, workdir: Path, args: argparse.Namespace) -> LegResult:
    reason = leg.unavailable()
    if reason is not None:
        _say(f"{leg.name}: skipped: {reason}")
        return LegResult(leg.name, leg.label, status="skipped", reason=reason)
    _say(f"{leg.name}: starting")
    try:
        return measure(leg, upstream, workdir, args)
    except BenchmarkError as exc:
        _say(f"{leg.name}: broken: {exc}")
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
    }
    return [legs[name] for name in args.legs]


def run(args: argparse.Namespace) -> dict[str, object]:
    wrk_binary()  # fail before starting anything
    load_before = _load()
    workdir = Path(tempfile.mkdtemp(prefix="modelops-gateway-bench-"))
    with ExitStack() as stack:
        if args.keep:
            _say(f"keeping work files (configs, logs) in {workdir}")
        else:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        upstream = start_upstream(stack, workdir)
        results = [run_leg(leg, upstream, workdir, args) for leg in build_legs(args)]
    context: dict[str, object] = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": _load(),
    }
    return report(results, context)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _legs(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(LEGS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"legs are a comma-separated subset of {','.join(LEGS)}")
    return [name for name in LEGS if name in names]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds per timed run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per leg")
    parser.add_argument("--legs", type=_legs, default=list(LEGS), help=",".join(LEGS))
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--keep", action="store_true", help="keep work files and the database")
    parser.add_argument(
        "--litellm-venv",
        type=Path,
        default=REPO / ".venv-litellm",
        help="venv with LiteLLM's proxy (created if missing)",
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
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 1:
        parser.error("--duration and --warmup are whole seconds, at least 1")
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
        _say(f"error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        _say("interrupted: everything this run started is stopped")
        sys.exit(130)
    print(json.dumps(data, indent=2) if args.json else text_table(data))


if __name__ == "__main__":
    main()
