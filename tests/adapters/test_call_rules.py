"""The one retry rule, applied to the errors of every layer, and the one failover rule."""

from __future__ import annotations

import pytest

from adapters import errors
from adapters.call_rules import fails_over, is_retryable
from dispatch.keyed_call import (
    OUTCOME_BY_SCOPE,
    BudgetExhaustedError,
    CallFailedError,
    NoUsableKeyError,
)
from registry.errors import (
    ConflictError,
    DatabaseUnavailableError,
    InvalidInputError,
    NotFoundError,
)
from tasks.dataset import DatasetError
from tasks.retry import is_transient
from tests.adapters.test_error_mapping import LEAVES

PASSING_SCOPES = {
    errors.FaultScope.RATE_LIMIT,
    errors.FaultScope.MODEL,
    errors.FaultScope.PROVIDER,
    errors.FaultScope.TRANSIENT,
}


@pytest.mark.parametrize("cls", sorted(LEAVES, key=lambda c: c.__name__))
def test_a_provider_fault_is_retried_exactly_when_its_scope_may_pass(
    cls: type[errors.ProviderError],
) -> None:
    error = cls("m", provider="p")
    assert is_retryable(error) is (error.scope in PASSING_SCOPES)


@pytest.mark.parametrize("cls", sorted(LEAVES, key=lambda c: c.__name__))
def test_every_fault_but_a_request_scoped_one_fails_over_to_another_key(
    cls: type[errors.ProviderError],
) -> None:
    error = cls("m", provider="p")
    assert fails_over(error) is (error.scope is not errors.FaultScope.REQUEST)


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (BudgetExhaustedError("keys cooling", []), True),
        (NoUsableKeyError("every key is disabled", []), False),
        (CallFailedError("no key answered", []), False),
        (ConflictError("a concurrent writer"), True),
        (DatabaseUnavailableError("connection refused"), True),
        (InvalidInputError("bad", field="x"), False),
        (NotFoundError("no such model"), False),
        (DatasetError("line 3 is not JSON"), False),
        (errors.UnknownProviderKindError("opneai", ["openai"]), False),
        (ValueError("a bug"), False),
        (KeyError("a bug"), False),
    ],
)
def test_errors_of_the_other_layers_say_whether_they_pass(
    error: BaseException, retried: bool
) -> None:
    assert is_retryable(error) is retried
    assert is_transient(error) is retried  # Prefect's retry condition applies the same rule


def test_every_fault_scope_says_what_it_means_for_the_key() -> None:
    assert set(OUTCOME_BY_SCOPE) == set(errors.FaultScope)  # else a new scope fails a call
