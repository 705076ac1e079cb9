"""`modelops run FLOW --param k=v`: parameters are checked before anything runs; on Prefect's
ephemeral API a run sends no telemetry, prints no traceback, and leaves no server behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.index import FLOWS
from flows.params import FineTuneParams
from modelops.cli.errors import BadInput
from modelops.cli.run_params import build_params
from modelops.prefect_env import QUIET_DEFAULTS, use_quiet_defaults
from tests.cli.conftest import Cli, Result

REPO = Path(__file__).resolve().parents[2]
SERVER_APP = b"prefect.server.api.server:create_app"


def _error_line(result: Result) -> str:
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


def test_params_parse_json_values_and_dotted_nested_keys() -> None:
    params = build_params(
        FLOWS["fine-tune"],
        ["model=support-intent", "training.n_epochs=3", "training.seed=7", "dataset=data/x.jsonl"],
    )
    assert isinstance(params, FineTuneParams)
    assert (params.training.n_epochs, params.training.seed, params.dataset) == (
        3,
        7,
        "data/x.jsonl",
    )


def test_a_mistyped_parameter_names_it_and_what_it_accepts(cli: Cli) -> None:
    result = cli("run", "evaluate", "-p", "model=support-intent", "-p", "version=abc")
    assert result.code == 2
    assert _error_line(result) == (
        'error: evaluate: --param version="abc": Input should be a valid integer, unable to '
        "parse string as an integer; allowed: an integer >= 1 <= 2147483647 (Version number to evaluate.)"
    )


def test_unknown_parameter_names_list_the_ones_that_exist(cli: Cli) -> None:
    result = cli(
        "run", "fine-tune", "-p", "model=support-intent", "-p", "colour=red",
        "-p", "training.epochs=3",
    )  # fmt: skip
    assert result.code == 2
    line = _error_line(result)
    assert "--param colour: no such parameter (parameters: model, dataset, parent_version" in line
    assert (
        "--param training.epochs: no such parameter (parameters of training: n_epochs, "
        "batch_size, learning_rate_multiplier, seed)" in line
    )


def test_a_choice_outside_the_enum_lists_the_choices(cli: Cli) -> None:
    result = cli(
        "run", "promote", "-p", "model=support-intent", "-p", "version=1",
        "-p", "requester=carol", "-p", "stage=prod",
    )  # fmt: skip
    assert result.code == 2
    assert "allowed: one of testing, staging, production (Target stage.)" in _error_line(result)


def test_a_missing_required_parameter_says_so() -> None:
    with pytest.raises(BadInput) as caught:
        build_params(FLOWS["evaluate"], ["model=support-intent"])
    assert str(caught.value) == (
        "evaluate: --param version is required; allowed: an integer >= 1 <= 2147483647 "
        "(Version number to evaluate.)"
    )


def test_promote_parameters_are_bounded_like_the_columns_they_reach() -> None:
    with pytest.raises(BadInput) as caught:
        build_params(
            FLOWS["promote"],
            ["model=support-intent", "version=99999999999", "requester=ann\x1b[2J"],
        )
    message = str(caught.value)
    assert (
        "--param version=99999999999: Input should be less than or equal to 2147483647" in message
    )
    assert "Value error, contains the control character \\x1b at position 3" in message


def test_unknown_flow_and_malformed_pairs_exit_2_without_running(cli: Cli) -> None:
    unknown = cli("run", "deploy-everything")
    assert unknown.code == 2
    assert _error_line(unknown) == (
        "error: unknown flow 'deploy-everything'; flows: register-model, fine-tune, evaluate, "
        "promote, retrain, ab-test, deploy, undeploy, monitor, usage-report"
    )
    malformed = cli("run", "promote", "--param", "version")
    assert malformed.code == 2 and "expected key=value" in _error_line(malformed)


def test_quiet_defaults_keep_what_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    monkeypatch.setenv("DO_NOT_TRACK", "0")
    use_quiet_defaults()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["DO_NOT_TRACK"] == "0"


# The real command in a process of its own, on Prefect's ephemeral API.


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Prefect home (the ephemeral server's SQLite database) for this module's runs."""
    return tmp_path_factory.mktemp("prefect-home")


def _environment(prefect_home: Path, data_dir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_") and name not in QUIET_DEFAULTS
    }
    return {
        **env,
        "PREFECT_HOME": str(prefect_home),
        "PYTHONPATH": str(REPO),
        "MODELOPS_DATA_DIR": str(data_dir),
        "MODELOPS_DATABASE_URL": "",
    }


def _modelops(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelops.cli", *args]


@pytest.mark.slow
def test_a_failed_run_prints_one_line_and_nothing_of_prefects_server(
    prefect_home: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "eval.jsonl"
    done = subprocess.run(
        _modelops(
            "run", "evaluate", "-p", "model=support-intent", "-p", "version=1",
            "-p", f"dataset={missing}",
        ),
        cwd=tmp_path, env=_environment(prefect_home, tmp_path / "data"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        f"error: evaluate run 'evaluate-support-intent-v1' ended Failed: EvalDatasetError: "
        f"eval dataset not found: {missing}"
    ), done.stderr
    assert [line for line in done.stderr.splitlines() if "| ERROR" in line] == []


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _server_child(parent: int) -> int | None:
    for pid in _children(parent):
        try:
            if SERVER_APP in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for its new parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _poll(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """Poll `condition` (another process's state: nothing to block on) until truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def blocking_dataset(tmp_path: Path) -> Path:
    """A named pipe as the eval dataset: the run's first task blocks reading it, for as long as
    the test needs the run alive."""
    path = tmp_path / "eval.jsonl"
    os.mkfifo(path)
    return path


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids this test made (through the CLI) that must not outlive it, whatever it asserts."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_the_ephemeral_server_dies_with_a_killed_run_and_sends_no_telemetry(
    prefect_home: Path, tmp_path: Path, blocking_dataset: Path, leftovers: list[int]
) -> None:
    args = ["run", "evaluate", "-p", "model=support-intent", "-p", "version=1"]
    with (tmp_path / "run.log").open("wb") as log:
        run = subprocess.Popen(
            _modelops(*args, "-p", f"dataset={blocking_dataset}"),
            cwd=tmp_path, env=_environment(prefect_home, tmp_path / "data"),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    leftovers.append(run.pid)
    try:
        server = _poll(lambda: _server_child(run.pid), 180, "the ephemeral server to start")
        leftovers.append(server)
        # The run is under way (its first task waits on the pipe) when it is killed.
        _poll(lambda: b"Beginning flow run" in (tmp_path / "run.log").read_bytes(), 180, "run")
        environment = Path(f"/proc/{server}/environ").read_bytes().lower().split(b"\0")
        assert b"prefect_server_analytics_enabled=false" in environment
        assert b"do_not_track=1" in environment

        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        _poll(lambda: not _alive(server), 60, f"the server (pid {server}) to exit")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)
