"""Rollouts: deploying a version onto an endpoint step by step, judged on measured traffic."""
