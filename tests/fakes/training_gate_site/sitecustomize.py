"""Run at interpreter start-up when this directory is on PYTHONPATH: installs the training
gate of tests/fakes/training_gate.py in processes a test does not start itself."""

from __future__ import annotations

import os

if os.environ.get("MODELOPS_TEST_TRAINING_GATE"):
    from tests.fakes.training_gate import install_from_environment

    install_from_environment()
