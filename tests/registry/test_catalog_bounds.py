"""Catalog bounds: file size, YAML aliases and nesting, text and JSON fields; each problem
names the file, the field and the limit."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from registry.catalog import CatalogError, load_catalog
from registry.catalog_spec import MAX_DESCRIPTION
from registry.catalog_yaml import MAX_ALIASES, MAX_EXPANDED_NODES, MAX_FILE_BYTES
from registry.json_document import MAX_JSON_BYTES
from tests.registry.test_catalog_support import make_catalog, model_doc, provider_doc, write

MODEL_FILE = "models/support-intent.yaml"
PROVIDER_FILE = "providers/local.yaml"


def problems(root: Path) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    return [str(problem) for problem in caught.value.problems]


def alias_bomb(levels: int) -> str:
    """Provider options whose last list expands to 10**levels strings in a few hundred bytes."""
    lines = ["name: local", "kind: local", "options:", "  l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        anchor = f"&l{level} " if level < levels - 1 else ""
        lines.append(f"  l{level}: {anchor}[{', '.join([f'*l{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_upper_case_yaml_suffixes_are_read_not_skipped(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, "providers/anthropic.YAML", provider_doc("anthropic", "anthropic"))
    write(tmp_path, "providers/asyncgen.Yml", provider_doc("asyncgen", "asyncgen"))
    sources = [e.source_file for e in load_catalog(tmp_path).providers]
    assert {"providers/anthropic.YAML", "providers/asyncgen.Yml"} <= set(sources)


def test_an_alias_bomb_is_refused_before_anything_is_constructed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, PROVIDER_FILE, alias_bomb(levels=7))  # 10**7 strings once expanded
    constructed: list[object] = []
    original = yaml.constructor.BaseConstructor.construct_object

    def counting(
        self: yaml.constructor.BaseConstructor, node: yaml.Node, deep: bool = False
    ) -> object:
        constructed.append(node)
        return original(self, node, deep)

    monkeypatch.setattr(yaml.constructor.BaseConstructor, "construct_object", counting)
    assert problems(tmp_path) == [
        f"{PROVIDER_FILE}: the document expands to more than {MAX_EXPANDED_NODES:,} values once "
        f"its aliases are resolved; the limit is {MAX_EXPANDED_NODES:,}"
    ]
    assert constructed == []


def test_a_small_use_of_aliases_is_still_allowed(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, PROVIDER_FILE, alias_bomb(levels=2))
    (provider,) = [e for e in load_catalog(tmp_path).providers if e.spec.name == "local"]
    assert provider.spec.options["l1"] == [["x"] * 10] * 10


def test_more_aliases_than_the_limit_are_refused_with_the_line(tmp_path: Path) -> None:
    uses = ", ".join(["*a"] * (MAX_ALIASES + 1))
    write(
        tmp_path, PROVIDER_FILE, f"name: local\nkind: local\noptions:\n  a: &a 1\n  b: [{uses}]\n"
    )
    assert problems(tmp_path) == [
        f"{PROVIDER_FILE}: line 5: more than {MAX_ALIASES} aliases (*name); the limit is "
        f"{MAX_ALIASES} per file"
    ]


def test_an_alias_inside_its_own_value_is_refused(tmp_path: Path) -> None:
    write(tmp_path, PROVIDER_FILE, "name: local\nkind: local\noptions:\n  a: &a [1, *a]\n")
    assert problems(tmp_path) == [
        f"{PROVIDER_FILE}: line 4: an alias refers to a value that contains it"
    ]


def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        PROVIDER_FILE,
        "name: local\nkind: local\noptions: {a: " + "[" * 200 + "]" * 200 + "}\n",
    )
    assert problems(tmp_path) == [
        f"{PROVIDER_FILE}: line 3: nested deeper than the limit of 32 levels"
    ]


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    path = tmp_path / MODEL_FILE
    with path.open("r+b") as handle:  # 50 MB, sparse: the limit is checked on what is read
        handle.truncate(50 * 1024 * 1024)
    assert problems(tmp_path) == [
        f"{MODEL_FILE}: file is larger than the limit of {MAX_FILE_BYTES:,} bytes for a catalog file"
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"description": "d" * (MAX_DESCRIPTION + 1)},
         f"description: String should have at most {MAX_DESCRIPTION} characters"),
        ({"description": "routes\x00tickets"},
         "description: contains the control character \\x00 at position 6; only printable text "
         "(line breaks and tabs allowed) is allowed"),
        ({"description": "routes\x1b[2J"}, "description: contains the control character \\x1b at position 6"),
        ({"base_model": "tfidf\nlogreg"}, "base_model: contains the control character \\n at position 5"),
        ({"base_model": "b" * 257}, "base_model: String should have at most 256 characters"),
        ({"policy": {"production": {"approvers": ["al\x1bice"]}}},
         "policy.production.approvers[0]: contains the control character \\x1b at position 2"),
        ({"policy": {"production": {"approvers": [f"p{n}" for n in range(33)]}}},
         "policy.production.approvers: List should have at most 32 items after validation, not 33"),
        ({"cost": {"input_per_1k": float("inf")}}, "cost.input_per_1k: Input should be a finite number"),
        ({"rollout": {"strategy": "direct", "bake_seconds": 10**12}},
         "rollout.bake_seconds: Input should be less than or equal to 604800"),
    ],
)  # fmt: skip
def test_model_text_and_numbers_are_bounded(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    make_catalog(tmp_path, model_doc(**fields))
    (problem,) = problems(tmp_path)
    assert problem.startswith(f"{MODEL_FILE}: {message}")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt": "a\x00b"}, "options: prompt: contains the control character \\x00 at position 1"),
        ({"bad\x1bkey": 1}, "options: contains the control character \\x1b at position 3"),
        ({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}},
         "options: a.b.c.d.e.f.g.h: nested deeper than the limit of 8 levels"),
        ({"many": list(range(300))}, "options: many: has 300 entries; the limit is 256"),
        ({"long": "x" * 4001}, "options: long: text is 4,001 characters; the limit is 4,000"),
    ],
)  # fmt: skip
def test_provider_options_are_bounded_json(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    make_catalog(tmp_path)
    write(tmp_path, PROVIDER_FILE, provider_doc(options=options))
    (problem,) = problems(tmp_path)
    assert problem.startswith(f"{PROVIDER_FILE}: {message}")


def test_the_json_size_limit_names_the_limit(tmp_path: Path) -> None:
    make_catalog(tmp_path)
    write(tmp_path, PROVIDER_FILE, provider_doc(options={f"k{n}": "v" * 3000 for n in range(6)}))
    (problem,) = problems(tmp_path)
    assert problem.endswith(f"as JSON; the limit is {MAX_JSON_BYTES:,} bytes")
