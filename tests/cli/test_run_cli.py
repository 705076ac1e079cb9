"""`modelops run FLOW --param k=v`: parameters are checked before anything runs."""

from __future__ import annotations

import pytest

from flows.index import FLOWS
from flows.params import FineTuneParams
from modelops.cli.errors import BadInput
from modelops.cli.run_cmd import build_params
from tests.cli.conftest import Cli


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


def test_a_bad_parameter_names_the_field_and_lists_the_flows_parameters() -> None:
    with pytest.raises(BadInput) as caught:
        build_params(FLOWS["evaluate"], ["model=support-intent", "version=zero", "colour=red"])
    message = str(caught.value)
    assert "--param version: Input should be a valid integer" in message
    assert "--param colour: Extra inputs are not permitted" in message
    assert "(parameters of evaluate: model, version, dataset, concurrency, actor)" in message


def test_unknown_flow_and_malformed_pairs_exit_2_without_running(cli: Cli) -> None:
    unknown = cli("run", "deploy-everything")
    assert unknown.code == 2
    assert "unknown flow 'deploy-everything'; flows: register-model, fine-tune" in unknown.err
    malformed = cli("run", "promote", "--param", "version")
    assert malformed.code == 2 and "expected key=value" in malformed.err


def test_promote_parameters_are_bounded_like_the_columns_they_reach() -> None:
    with pytest.raises(BadInput) as caught:
        build_params(
            FLOWS["promote"],
            ["model=support-intent", "version=99999999999", "requester=ann\x1b[2J"],
        )
    message = str(caught.value)
    assert "--param version: Input should be less than or equal to 2147483647" in message
    assert "--param requester: Value error, contains the control character \\x1b" in message
