"""Loading the catalog: every problem reported with its file, field and allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.categories import Category
from adapters.registry import ADAPTERS
from registry.catalog import (
    CATEGORIES,
    POLICY_STAGES,
    PROVIDER_KINDS,
    CatalogDirectoryError,
    CatalogError,
    load_catalog,
)
from registry.domain import StagePolicy
from registry.errors import InvalidInputError
from registry.stages import Stage
from tests.registry.test_catalog_support import (
    EXAMPLE_CATALOG,
    make_catalog,
    model_doc,
    provider_doc,
    write,
)

ALL_CATEGORIES = (
    "chat, classification, text-to-image, image-to-image, text-to-video, image-to-video, "
    "audio-to-video, storyboard-to-video, text-to-music, speech-to-text, text-to-speech"
)
MODEL_FILE = "models/support-intent.yaml"


def problems(root: Path) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    return [str(problem) for problem in caught.value.problems]


def test_the_shipped_example_catalog_validates() -> None:
    catalog = load_catalog(EXAMPLE_CATALOG)
    assert sorted(e.spec.name for e in catalog.providers) == ["anthropic", "local", "openai"]
    (model,) = catalog.models
    assert (model.spec.name, model.spec.provider, model.source_file) == (
        "support-intent",
        "local",
        MODEL_FILE,
    )
    assert model.spec.policy.production is not None
    assert model.spec.policy.production.approvers == ["alice", "bob"]
    assert model.spec.policy.production.four_eyes is True


def test_a_valid_catalog_loads_with_relative_source_files(tmp_path: Path) -> None:
    catalog = load_catalog(make_catalog(tmp_path))
    assert [e.source_file for e in catalog.providers] == [
        "providers/local.yaml",
        "providers/openai.yaml",
    ]
    assert catalog.teams == ["default"]


def test_yml_files_are_read_like_yaml_files(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc())
    write(tmp_path, "providers/anthropic.yml", provider_doc("anthropic", "anthropic"))
    assert "providers/anthropic.yml" in [e.source_file for e in load_catalog(tmp_path).providers]


def test_constants_match_the_stage_machine_and_the_adapters_categories() -> None:
    assert POLICY_STAGES == (Stage.TESTING, Stage.STAGING, Stage.PRODUCTION)
    assert tuple(category.value for category in Category) == CATEGORIES
    assert set(PROVIDER_KINDS) == set(ADAPTERS)


def test_each_stage_policy_dumps_to_what_the_lifecycle_reads(tmp_path: Path) -> None:
    policy = {"production": {"approvers": ["alice", "bob"], "min_approvals": 2, "four_eyes": True}}
    make_catalog(tmp_path, model_doc(policy=policy))
    dumped = load_catalog(tmp_path).models[0].spec.policy.model_dump(mode="json", exclude_none=True)
    assert StagePolicy.model_validate(dumped["production"]) == StagePolicy(
        approvers=["alice", "bob"], min_approvals=2, four_eyes=True, gates={}
    )


def test_unknown_provider_lists_the_known_providers(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(provider="nope"))
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: provider: unknown provider 'nope'; known providers: local, openai"
    ]


def test_unknown_provider_suggests_a_near_miss(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(provider="lokal"))
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: provider: unknown provider 'lokal' (did you mean 'local'?); "
        "known providers: local, openai"
    ]


def test_unknown_category_lists_every_category(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(category="clasification"))
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: category: 'clasification' is not a known category "
        f"(did you mean 'classification'?); allowed: {ALL_CATEGORIES}"
    ]


def test_duplicate_model_names_mention_both_files(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "models/support-intent.yml", model_doc())
    assert problems(tmp_path) == [
        "models/support-intent.yml: name: model 'support-intent' is defined twice: "
        "in models/support-intent.yaml and in models/support-intent.yml"
    ]


def test_a_file_named_after_another_model_is_a_duplicate_and_a_misnamed_file(
    tmp_path: Path,
) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "models/copy.yaml", model_doc())
    assert problems(tmp_path) == [
        "models/copy.yaml: name: 'support-intent' does not match the file name: each file is "
        "named after what it defines, so rename the file to models/support-intent.yaml "
        "or set name: copy",
        "models/support-intent.yaml: name: model 'support-intent' is defined twice: "
        "in models/copy.yaml and in models/support-intent.yaml",
    ]


def test_duplicate_provider_names_mention_both_files(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "providers/local.yml", provider_doc())
    assert problems(tmp_path) == [
        "providers/local.yml: name: provider 'local' is defined twice: "
        "in providers/local.yaml and in providers/local.yml"
    ]


def test_unknown_provider_kind_lists_the_kinds(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "providers/local.yaml", provider_doc(kind="vllm"))
    assert problems(tmp_path) == [
        "providers/local.yaml: kind: 'vllm' is not a known provider kind; "
        "allowed: local, openai, anthropic, asyncgen, replicate, localmedia"
    ]


def test_a_typod_key_is_named_with_the_allowed_fields(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(rollout={"strategy": "canary", "bake_second": 60}))
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: rollout.bake_second: unknown field 'bake_second' "
        "(did you mean 'bake_seconds'?); allowed fields: strategy, steps, bake_seconds, "
        "min_samples, max_error_rate_increase, max_latency_increase_ratio, "
        "max_quality_decrease, step_deadline_seconds, on_inconclusive, max_error_rate, "
        "max_p95_latency_ms, rollback_window_seconds, shadow_percent, alpha, max_looks"
    ]


def test_policy_keys_must_be_target_stages(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(policy={"prod": {}}))
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: policy.prod: unknown field 'prod'; "
        "allowed fields: testing, staging, production"
    ]


def test_rollout_strategy_lists_the_strategies(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(rollout={"strategy": "sideways"}))
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: rollout.strategy: 'sideways' is not a known rollout strategy; "
        "allowed: direct, rolling, canary, blue-green, shadow"
    ]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([5, 25, 50], "steps must end at 100 (got [5, 25, 50])"),
        ([25, 5, 100], "steps must increase strictly (got [25, 5, 100])"),
        ([50, 50, 100], "steps must increase strictly (got [50, 50, 100])"),
        ([], "steps must end at 100 (got [])"),
    ],
)
def test_rollout_steps_increase_and_end_at_100(
    tmp_path: Path, steps: list[int], message: str
) -> None:
    make_catalog(tmp_path, model_doc(rollout={"strategy": "canary", "steps": steps}))
    assert problems(tmp_path) == [f"{MODEL_FILE}: rollout.steps: {message}"]


def test_a_direct_rollout_moves_all_traffic_in_one_step(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(rollout={"strategy": "direct", "steps": [50, 100]}))
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: rollout.steps: strategy 'direct' moves all traffic at once: "
        "steps must be [100] (got [50, 100])"
    ]


@pytest.mark.parametrize(
    ("accuracy", "message"),
    [
        (0, "Input should be greater than 0 (got 0)"),
        (1.5, "Input should be less than or equal to 1 (got 1.5)"),
    ],
)
def test_min_accuracy_lies_in_zero_to_one(tmp_path: Path, accuracy: float, message: str) -> None:
    make_catalog(tmp_path, model_doc(policy={"staging": {"gates": {"min_accuracy": accuracy}}}))
    assert problems(tmp_path) == [f"{MODEL_FILE}: policy.staging.gates.min_accuracy: {message}"]


def test_min_accuracy_of_one_is_allowed(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(policy={"staging": {"gates": {"min_accuracy": 1}}}))
    assert load_catalog(tmp_path).models[0].spec.policy.staging is not None


def test_min_approvals_cannot_exceed_the_approvers(tmp_path: Path) -> None:
    policy = {"production": {"approvers": ["alice"], "min_approvals": 2}}
    make_catalog(tmp_path, model_doc(policy=policy))
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: policy.production.min_approvals: min_approvals is 2 but the policy "
        "lists only 1 approver; add approvers or lower min_approvals"
    ]


@pytest.mark.parametrize("url", ["ftp://host/v1", "https://", "api.openai.com/v1", "https://[::1"])
def test_base_url_must_be_an_http_url(tmp_path: Path, url: str) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "providers/openai.yaml", provider_doc("openai", "openai", base_url=url))
    assert problems(tmp_path) == [
        f"providers/openai.yaml: base_url: {url!r} is not an http(s) URL "
        "such as https://api.example.com/v1"
    ]


def test_credentials_in_a_base_url_are_refused_without_echoing_them(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    url = "https://me:hunter2@api.openai.com/v1"
    write(tmp_path, "providers/openai.yaml", provider_doc("openai", "openai", base_url=url))
    assert problems(tmp_path) == [
        "providers/openai.yaml: base_url: base_url must not carry credentials; API keys are "
        "added with `modelops keys add PROVIDER` and stored encrypted"
    ]


def test_options_that_look_like_credentials_are_refused(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    options = {"api_key": "sk-1", "client-secret": "s", "max_tokens": 5, "organization": "o"}
    write(tmp_path, "providers/openai.yaml", provider_doc("openai", "openai", options=options))
    found = problems(tmp_path)
    assert found == [
        "providers/openai.yaml: options: options api_key, client-secret look like credentials, "
        "which never belong in the catalog; API keys are added with `modelops keys add "
        "PROVIDER` and stored encrypted"
    ]
    assert "sk-1" not in found[0]


def test_names_are_lowercase_slugs(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "providers/Open_AI.yaml", provider_doc("Open_AI", "openai"))
    assert problems(tmp_path) == [
        "providers/Open_AI.yaml: name: 'Open_AI' is not allowed: use lowercase letters, "
        "digits and '-', starting with a letter or digit"
    ]


def test_a_missing_required_field_is_named(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(base_model=None))
    assert problems(tmp_path) == [f"{MODEL_FILE}: base_model: required field is missing"]


def test_a_file_must_be_named_after_its_name(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "providers/oai.yaml", provider_doc("openai2", "openai"))
    assert problems(tmp_path) == [
        "providers/oai.yaml: name: 'openai2' does not match the file name: each file is named "
        "after what it defines, so rename the file to providers/openai2.yaml or set name: oai"
    ]


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, MODEL_FILE, "name: support-intent\nteam: default\n  provider: local\n")
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: YAML syntax error at line 3, column 11: mapping values are not allowed here"
    ]


def test_a_key_given_twice_is_a_yaml_error_with_both_lines(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "providers/local.yaml", "name: local\nkind: local\nkind: openai\n")
    assert problems(tmp_path) == [
        "providers/local.yaml: YAML syntax error at line 3, column 1: "
        "duplicate key 'kind' (first given at line 2)"
    ]


def test_an_empty_file_is_reported(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "providers/anthropic.yaml", "# nothing yet\n")
    assert problems(tmp_path) == [
        "providers/anthropic.yaml: file is empty; expected a mapping of fields such as `name: …`"
    ]


def test_a_file_that_is_not_a_mapping_is_reported(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "providers/anthropic.yaml", "- name: anthropic\n")
    assert problems(tmp_path) == [
        "providers/anthropic.yaml: expected a mapping of fields at the top level, got a list"
    ]


def test_every_problem_in_every_file_is_collected(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(category="video", provider="nope", colour="red"))
    write(tmp_path, "providers/openai.yaml", provider_doc("openai", "openai", base_url="ftp://x"))
    write(tmp_path, "providers/broken.yaml", "name: [\n")
    found = problems(tmp_path)
    assert [line.split(": ")[:2] for line in found] == [
        [MODEL_FILE, "provider"],
        [MODEL_FILE, "category"],
        [MODEL_FILE, "colour"],
        ["providers/broken.yaml", "YAML syntax error at line 2, column 1"],
        ["providers/openai.yaml", "base_url"],
    ]


def test_the_error_is_an_invalid_input_error_listing_one_problem_per_line(tmp_path: Path) -> None:
    make_catalog(tmp_path, model_doc(provider="nope", category="video"))
    with pytest.raises(InvalidInputError) as caught:
        load_catalog(tmp_path)
    assert str(caught.value).splitlines() == [
        str(problem)
        for problem in caught.value.problems  # type: ignore[attr-defined]
    ]
    assert caught.value.field == "provider"


def test_a_missing_catalog_directory_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(CatalogDirectoryError) as caught:
        load_catalog(tmp_path / "nowhere")
    assert caught.value.message == (
        f"catalog directory {tmp_path / 'nowhere'} not found; set MODELOPS_CATALOG_DIR "
        "to the directory holding providers/ and models/"
    )


def test_a_directory_without_catalog_folders_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(CatalogDirectoryError) as caught:
        load_catalog(tmp_path)
    assert "has no providers/ or models/ folder; set MODELOPS_CATALOG_DIR" in caught.value.message
