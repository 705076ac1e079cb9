"""Holds local training after an epoch until the test lets it go, so a test can act on a job
that is certainly mid-training instead of betting on how long an epoch takes.

In the test's own process, `TrainingGate.install(monkeypatch)`. In a child process, put
`TrainingGate.env()` in its environment: the child calls `install_from_environment()` itself,
or, for processes a test does not start directly (a Prefect worker's flow runs), the
`sitecustomize` in `training_gate_site/` does it at interpreter start-up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from adapters.local import model as local_model
from adapters.local.dataset import Example

ENV = "MODELOPS_TEST_TRAINING_GATE"
SITE = Path(__file__).resolve().parent / "training_gate_site"
REPO = SITE.parents[2]
_POLL_SECONDS = 0.02  # the release may come from another process: a file is all we share
Trainer = Callable[..., local_model.TextClassifier | None]


class TrainingGate:
    """Training pauses after epoch `after_epoch` (its progress already stored) until released."""

    def __init__(self, directory: Path, after_epoch: int = 1) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.after_epoch = after_epoch

    def env(self, *, at_startup: bool = False) -> dict[str, str]:
        """Variables for a child process; `at_startup` makes every Python process started
        with them install the gate (through `training_gate_site/sitecustomize.py`)."""
        variables = {ENV: f"{self.directory}:{self.after_epoch}"}
        if at_startup:
            paths = [str(SITE), str(REPO), os.environ.get("PYTHONPATH", "")]
            variables["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
        return variables

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(local_model, "train", self.wrap(local_model.train))

    def release(self) -> None:
        (self.directory / "release").touch()

    def wrap(self, train: Trainer) -> Trainer:
        """`train`, holding after the gate's epoch until `release`."""

        def gated(
            examples: Sequence[Example],
            config: local_model.TrainingConfig,
            *,
            on_epoch: Callable[[local_model.EpochMetrics], bool],
            **options: object,
        ) -> local_model.TextClassifier | None:
            def hold(metrics: local_model.EpochMetrics) -> bool:
                going = on_epoch(metrics)
                while metrics.epoch == self.after_epoch and not self._released():
                    time.sleep(_POLL_SECONDS)
                return going

            return train(examples, config, on_epoch=hold, **options)

        return gated

    def _released(self) -> bool:
        return (self.directory / "release").exists()


def install_from_environment() -> None:
    """Install the gate named by MODELOPS_TEST_TRAINING_GATE, if set (for child processes)."""
    setting = os.environ.get(ENV)
    if not setting:
        return
    directory, after_epoch = setting.rsplit(":", 1)
    gate = TrainingGate(Path(directory), int(after_epoch))
    local_model.train = gate.wrap(local_model.train)  # type: ignore[assignment]
