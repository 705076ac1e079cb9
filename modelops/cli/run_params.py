"""`--param k=v` pairs into a flow's parameter model, with errors that name the parameter
and say what it accepts."""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError

from flows.index import FlowEntry
from flows.params import FlowParams
from modelops.cli.errors import BadInput

JsonSchema = dict[str, object]


def build_params(entry: FlowEntry, pairs: list[str]) -> FlowParams:
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise BadInput(f"--param {pair!r}: expected key=value")
        _assign(values, key.split("."), _parse_value(raw))
    try:
        return entry.params.model_validate(values)
    except ValidationError as exc:
        problems = [_problem(entry.params, problem) for problem in exc.errors()]
        raise BadInput(f"{entry.name}: " + "; ".join(problems)) from None


def _parse_value(raw: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # a bare word is a string


def _assign(target: dict[str, object], path: list[str], value: object) -> None:
    for part in path[:-1]:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            raise BadInput(f"--param {'.'.join(path)}: {part!r} is already a value")
        target = nested
    target[path[-1]] = value


def _problem(model: type[BaseModel], problem: object) -> str:
    assert isinstance(problem, dict)
    location = [str(part) for part in problem["loc"]]
    name = ".".join(location)
    owner = _model_at(model, location[:-1])
    if problem["type"] == "extra_forbidden" and owner is not None:
        scope = "parameters" if len(location) == 1 else f"parameters of {'.'.join(location[:-1])}"
        return f"--param {name}: no such parameter ({scope}: {', '.join(owner.model_fields)})"
    allowed = _allowed(owner, location[-1]) if owner is not None else ""
    if problem["type"] == "missing":
        return f"--param {name} is required{allowed}"
    given = json.dumps(problem.get("input"), default=str)
    return f"--param {name}={given}: {problem['msg']}{allowed}"


def _model_at(model: type[BaseModel], path: list[str]) -> type[BaseModel] | None:
    """The parameter model a dotted path leads to (`training` → TrainingSettings)."""
    current: type[BaseModel] = model
    for part in path:
        field = current.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return current


def _allowed(owner: type[BaseModel], field: str) -> str:
    """What the field accepts, from its JSON schema: '; allowed: an integer >= 1 (Version …)'."""
    schema = owner.model_json_schema()
    prop = schema.get("properties", {}).get(field)
    if not isinstance(prop, dict):
        return ""
    kinds = [_kind(option, schema) for option in prop.get("anyOf", [prop])]
    accepted = " or ".join(kind for kind in kinds if kind)
    description = prop.get("description")
    said = accepted + (f" ({description})" if description else "")
    return f"; allowed: {said.strip()}" if said.strip() else ""


def _kind(prop: JsonSchema, schema: JsonSchema) -> str:
    reference = prop.get("$ref")
    if isinstance(reference, str):
        definitions = schema.get("$defs", {})
        assert isinstance(definitions, dict)
        prop = definitions.get(reference.rsplit("/", 1)[-1], {})
    if "enum" in prop:
        return "one of " + ", ".join(str(value) for value in prop["enum"])  # type: ignore[attr-defined]
    kind = str(prop.get("type"))
    if kind == "null":
        return "null"
    if kind in ("integer", "number"):
        return f"{'an integer' if kind == 'integer' else 'a number'}{_bounds(prop)}"
    if kind == "string":
        limit = f" of at most {prop['maxLength']} characters" if "maxLength" in prop else ""
        pattern = f" matching {prop['pattern']}" if "pattern" in prop else ""
        return f"a string{limit}{pattern}"
    return ""


def _bounds(prop: JsonSchema) -> str:
    low = next((f"{sign} {prop[key]}" for key, sign in _LOW if key in prop), None)
    high = next((f"{sign} {prop[key]}" for key, sign in _HIGH if key in prop), None)
    return "".join(f" {bound}" for bound in (low, high) if bound)


_LOW = (("minimum", ">="), ("exclusiveMinimum", ">"))
_HIGH = (("maximum", "<="), ("exclusiveMaximum", "<"))
