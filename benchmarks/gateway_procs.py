"""Processes the gateway benchmark starts: each in its own session, logged to a file, stopped by
its process group; and the CPU time of a process tree, read from /proc."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


class BenchmarkError(RuntimeError):
    """A leg could not be set up or measured: `summary` in one line, `detail` (a log) after."""

    def __init__(self, summary: str, detail: str = "") -> None:
        super().__init__(f"{summary}\n{detail}" if detail else summary)
        self.summary = summary


@dataclass(frozen=True)
class ProcStat:
    ppid: int
    ticks: int  # utime + stime + cutime + cstime: itself and its reaped children


def parse_proc_stat(text: str) -> ProcStat:
    """Fields of /proc/<pid>/stat after the command name, which may hold spaces and ')'."""
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    return ProcStat(ppid=int(fields[1]), ticks=sum(int(value) for value in fields[11:15]))


def _all_stats() -> dict[int, ProcStat]:
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stats[int(entry.name)] = parse_proc_stat(Path(entry.path, "stat").read_text())
        except (OSError, ValueError):
            continue  # exited while we looked
    return stats


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by `root` and every live or reaped descendant."""
    stats = _all_stats()
    if root not in stats:
        raise BenchmarkError(f"process {root} is gone: it exited during the run")
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        children.setdefault(stat.ppid, []).append(pid)
    ticks, pending = 0, [root]
    while pending:
        pid = pending.pop()
        ticks += stats[pid].ticks
        pending += children.get(pid, [])
    return ticks / CLOCK_TICKS


def say(message: str) -> None:
    """Progress goes to stderr: stdout carries only the table or the JSON."""
    print(message, file=sys.stderr, flush=True)


def tree_pythonpath() -> str:
    """PYTHONPATH for the processes started: this tree wins over the installed copy."""
    return os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Service:
    """A server process of one leg: its own process group, stdout+stderr in `log`."""

    def __init__(
        self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str], cwd: Path
    ) -> None:
        self.name, self.log = name, log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_listening(self, port: int, timeout: float) -> None:
        """Until the port accepts a connection; a process that exits first is an error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError(
                    f"{self.name} exited with status {self.process.returncode} before listening "
                    f"on port {port}",
                    f"  the end of its log:\n{self.log_tail()}",
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise BenchmarkError(
            f"{self.name} did not listen on port {port} within {timeout:.0f} s",
            f"  the end of its log:\n{self.log_tail()}",
        )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        # Servers colour their logs; no raw terminal escape reaches the reader.
        clean = _ESCAPES.sub("", text)
        return "\n".join(f"    {line}" for line in clean.splitlines()[-lines:])

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM the group (a server flushes on it), then SIGKILL what is left after `grace`."""
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        self._signal_group(signal.SIGKILL)  # stragglers: workers the server forked
        return self.process.wait()

    def _signal_group(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)
