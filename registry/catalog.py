"""The model catalog as code: load and validate `$MODELOPS_CATALOG_DIR`, collecting every problem.

The file format lives in `registry.catalog_spec`; writing the catalog to the DB in `catalog_sync`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from registry.catalog_fields import did_you_mean
from registry.catalog_spec import (
    CATEGORIES,
    POLICY_STAGES,
    PROVIDER_KINDS,
    ROLLOUT_STRATEGIES,
    ModelSpec,
    ProviderSpec,
)
from registry.catalog_yaml import Document, read_catalog_file, type_name
from registry.errors import InvalidInputError

__all__ = [
    "CATEGORIES",
    "POLICY_STAGES",
    "PROVIDER_KINDS",
    "ROLLOUT_STRATEGIES",
    "Catalog",
    "CatalogDirectoryError",
    "CatalogEntry",
    "CatalogError",
    "CatalogProblem",
    "ModelSpec",
    "ProviderSpec",
    "load_catalog",
]

SpecT = TypeVar("SpecT", ProviderSpec, ModelSpec)
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class CatalogProblem:
    """One thing wrong with the catalog: where (file, dotted field) and what."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.field}: {self.message}"
            if self.field
            else f"{self.file}: {self.message}"
        )


class CatalogError(InvalidInputError):
    """The catalog is invalid; `problems` lists every problem found, one per line in the message."""

    def __init__(self, problems: Sequence[CatalogProblem]) -> None:
        self.problems = tuple(problems)
        first_field = self.problems[0].field if self.problems else ""
        super().__init__("\n".join(str(p) for p in self.problems), field=first_field or "catalog")


class CatalogDirectoryError(CatalogError):
    """The catalog directory itself is missing or holds no catalog."""

    def __init__(self, directory: Path, message: str) -> None:
        super().__init__([CatalogProblem(str(directory), "", message)])
        self.message = message


@dataclass(frozen=True)
class CatalogEntry(Generic[SpecT]):
    """A validated definition and the file it came from (relative to the catalog dir)."""

    spec: SpecT
    source_file: str


@dataclass(frozen=True)
class Catalog:
    """A catalog in which every file validated: what `catalog sync` writes."""

    directory: Path
    providers: tuple[CatalogEntry[ProviderSpec], ...]
    models: tuple[CatalogEntry[ModelSpec], ...]

    @property
    def teams(self) -> list[str]:
        return sorted({entry.spec.team for entry in self.models})


def load_catalog(directory: Path) -> Catalog:
    """Read and validate every provider and model file; `CatalogError` lists all problems."""
    _require_directory(directory)
    problems: list[CatalogProblem] = []
    provider_docs, unreadable = _read_documents(directory, "providers", problems)
    model_docs, _ = _read_documents(directory, "models", problems)
    # Cross-file checks read the raw documents, so a file that also fails
    # validation still takes part in them and every problem shows at once.
    problems += _name_problems("provider", provider_docs) + _name_problems("model", model_docs)
    # An unreadable provider file still names its provider (files are named after
    # it), so a YAML typo there is one problem rather than one per model using it.
    known = _names(provider_docs) | {Path(relative).stem for relative in unreadable}
    problems += _unknown_providers(model_docs, sorted(known))
    providers = _validate(provider_docs, ProviderSpec, problems)
    models = _validate(model_docs, ModelSpec, problems)
    if problems:
        raise CatalogError(sorted(problems, key=lambda problem: problem.file))
    return Catalog(directory=directory, providers=tuple(providers), models=tuple(models))


def _require_directory(directory: Path) -> None:
    hint = "set MODELOPS_CATALOG_DIR to the directory holding providers/ and models/"
    if not directory.is_dir():
        raise CatalogDirectoryError(directory, f"catalog directory {directory} not found; {hint}")
    if not any((directory / sub).is_dir() for sub in ("providers", "models")):
        message = f"catalog directory {directory} has no providers/ or models/ folder; {hint}"
        raise CatalogDirectoryError(directory, message)


NamedDocument = tuple[str, Document]


def _read_documents(
    directory: Path, sub: str, problems: list[CatalogProblem]
) -> tuple[list[NamedDocument], list[str]]:
    """The parsed files of `directory/sub`, and the files that could not be parsed."""
    folder = directory / sub
    # `.YAML` is as much a YAML file as `.yaml`: none is silently skipped.
    files = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix.lower() in YAML_SUFFIXES)
    documents: list[NamedDocument] = []
    unreadable: list[str] = []
    for path in files:
        relative = path.relative_to(directory).as_posix()
        data, problem = read_catalog_file(path)
        if data is None:
            problems.append(CatalogProblem(relative, "", problem or "unreadable"))
            unreadable.append(relative)
        else:
            documents.append((relative, data))
    return documents, unreadable


def _validate(
    documents: list[NamedDocument], spec_type: type[SpecT], problems: list[CatalogProblem]
) -> list[CatalogEntry[SpecT]]:
    entries: list[CatalogEntry[SpecT]] = []
    for relative, data in documents:
        try:
            entries.append(CatalogEntry(spec_type.model_validate(data), relative))
        except ValidationError as exc:
            problems += [
                CatalogProblem(relative, _dotted(error["loc"]), _describe(error, spec_type))
                for error in exc.errors()
            ]
    return entries


def _name_problems(kind: str, documents: list[NamedDocument]) -> list[CatalogProblem]:
    """Each file is named after its `name`, and no name is defined twice."""
    problems = []
    first_file: dict[str, str] = {}
    for relative, data in documents:
        name = data.get("name")
        if not isinstance(name, str):
            continue
        if name != Path(relative).stem:
            problems.append(CatalogProblem(relative, "name", _stem_mismatch(name, relative)))
        first = first_file.setdefault(name, relative)
        if first != relative:
            twice = f"{kind} {name!r} is defined twice: in {first} and in {relative}"
            problems.append(CatalogProblem(relative, "name", twice))
    return problems


def _stem_mismatch(name: str, relative: str) -> str:
    path = Path(relative)
    return (
        f"{name!r} does not match the file name: each file is named after what it defines, "
        f"so rename the file to {path.parent.as_posix()}/{name}{path.suffix} "
        f"or set name: {path.stem}"
    )


def _names(documents: list[NamedDocument]) -> set[str]:
    return {name for _, data in documents if isinstance(name := data.get("name"), str)}


def _unknown_providers(model_docs: list[NamedDocument], known: list[str]) -> list[CatalogProblem]:
    listed = ", ".join(known) if known else "none (add providers/<name>.yaml)"
    return [
        CatalogProblem(
            relative,
            "provider",
            f"unknown provider {provider!r}{did_you_mean(provider, known)}; "
            f"known providers: {listed}",
        )
        for relative, data in model_docs
        if isinstance(provider := data.get("provider"), str) and provider not in known
    ]


def _dotted(location: tuple[int | str, ...]) -> str:
    dotted = ""
    for part in location:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else part)
    return dotted


def _describe(error: ErrorDetails, spec_type: type[BaseModel]) -> str:
    """A message that says what is wrong and, where there is a choice, what is allowed."""
    kind, location = error["type"], error["loc"]
    if kind == "extra_forbidden":
        allowed = _fields_at(spec_type, location[:-1])
        unknown = str(location[-1])
        hint = did_you_mean(unknown, allowed)
        return f"unknown field {unknown!r}{hint}; allowed fields: {', '.join(allowed)}"
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of fields, got {type_name(error['input'])}"
    shown = "nothing" if error["input"] is None else repr(error["input"])
    return f"{error['msg']} (got {shown if len(shown) <= 60 else shown[:57] + '...'})"


def _fields_at(spec_type: type[BaseModel], path: Sequence[int | str]) -> list[str]:
    """The field names of the spec model found by walking `path` down from `spec_type`."""
    current: type[BaseModel] | None = spec_type
    for part in path:
        if isinstance(part, int):  # an index into a list of models (`alerts[0]`)
            continue
        field = current.model_fields.get(str(part)) if current else None
        current = _model_in(field.annotation) if field else None
    if current is None:
        return []
    return [field.alias or name for name, field in current.model_fields.items()]


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        if (found := _model_in(argument)) is not None:
            return found
    return None
