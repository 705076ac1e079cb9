"""Prices and the cost of outcomes, daily usage, budgets, and recommendations.

Modules: `price_spec` (the catalog's `prices:`), `pricing` (pure: which price, what cost),
`prices` (stored prices), `tables`, `daily` (daily usage folded with the rollups, and
read), `reconcile` (a day recomputed from raw outcomes), `budgets`, `allowances` (hard
budgets across gateway replicas), `recommendations` and its checks `recommend_versions`,
`recommend_slo`, `recommend_keys`, `recommend_idle`. This package imports nothing at
load, so `registry.catalog_spec` can import `price_spec` without a cycle.
"""
