"""CPU time of a process tree from /proc, as the gateway benchmark charges it to a server."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.gateway_procs import CLOCK_TICKS, parse_proc_stat, tree_cpu_seconds

# A child that burns CPU, reports what it used by its own clock, then waits to be told to exit.
BURNER = """
import sys, time
while time.process_time() < 0.3:
    pass
print(time.process_time(), flush=True)
sys.stdin.read()
"""


def test_a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() -> None:
    # proc(5): pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime ...
    line = "4242 (a) (b c)) S 17 4242 4242 0 -1 4194560 10 0 0 0 120 30 7 3 20 0 1 0 99 0"
    stat = parse_proc_stat(line)
    assert stat.ppid == 17
    assert stat.ticks == 120 + 30 + 7 + 3


def _own_seconds() -> float:
    """This process and its reaped children, by times(2) rather than /proc."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def test_own_cpu_time_matches_what_the_times_syscall_reports() -> None:
    before = _own_seconds()
    measured = tree_cpu_seconds(os.getpid())
    after = _own_seconds()
    assert before - 1 / CLOCK_TICKS <= measured <= after + 1 / CLOCK_TICKS


def test_a_live_child_s_cpu_time_is_charged_to_its_parent_tree() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        burned = float(child.stdout.readline())  # the child's own count, once it is done
        mine = _own_seconds()
        tree = tree_cpu_seconds(os.getpid())
    finally:
        child.communicate("")
    # Python start-up adds to the child's /proc figure, never subtracts; ticks round down.
    assert tree - mine >= burned - 2 / CLOCK_TICKS
