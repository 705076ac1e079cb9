"""Garbage collection in a `modelops` process: off while a command loads, then blind to it.

A read command imports ~560 modules, hundreds of thousands of objects that live until
the process ends and none of them garbage. Left alone, the collector traverses them over
and over while they load and once more at exit: about 40 ms and 90 ms of a ~480 ms read
command (benchmarks/RESULTS.md). Only the `modelops` program pauses it (`pause`);
in-process callers of `main` (the tests) keep their collector as it was.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop collecting until `resume`; for the program's entry point only."""
    global _paused
    gc.disable()
    _paused = True


def resume() -> None:
    """Once the command is loaded: freeze what is loaded, and collect again from here on.

    Frozen objects are never traversed again, nor at exit (gc.freeze); what the command
    itself allocates is collected as usual, so a long-running gateway is unaffected.
    A no-op unless `pause` was called.
    """
    global _paused
    if not _paused:
        return
    gc.freeze()
    gc.enable()
    _paused = False
