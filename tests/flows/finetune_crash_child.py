"""Runs the fine-tune flow in a process of its own, for the crash test to kill mid-job.

Usage: python -m tests.flows.finetune_crash_child '<FineTuneParams as JSON>'; the Prefect
server, the registry and the training gate come from the environment (PREFECT_API_URL,
MODELOPS_*, MODELOPS_TEST_TRAINING_GATE).
"""

from __future__ import annotations

import asyncio
import sys

from flows.fine_tune import fine_tune
from flows.params import FineTuneParams
from tests.fakes.training_gate import install_from_environment


def main() -> None:
    install_from_environment()
    asyncio.run(fine_tune(FineTuneParams.model_validate_json(sys.argv[1])))


if __name__ == "__main__":
    main()
