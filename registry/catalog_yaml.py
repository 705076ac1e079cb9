"""Reading one catalog file: bounded, safe YAML with every problem described in words.

A file is refused before it is parsed if it is too large, and before anything is
constructed if its aliases, nesting or expanded size pass the limits: an alias bomb
(a few lines that expand to millions of elements) costs nothing to refuse.
"""

from __future__ import annotations

from pathlib import Path

import yaml

MAX_FILE_BYTES = 256 * 1024
MAX_ALIASES = 100
MAX_DEPTH = 32
# Nodes once every alias is expanded, i.e. what the document would be as JSON.
MAX_EXPANDED_NODES = 10_000

Document = dict[str, object]


class YamlLimitError(yaml.YAMLError):
    """The document passes one of the limits above; the message says which."""


def read_catalog_file(path: Path) -> tuple[Document | None, str | None]:
    """The file's top-level mapping, or a description of why there is none."""
    with path.open("rb") as stream:
        raw = stream.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        return None, f"file is larger than the limit of {MAX_FILE_BYTES:,} bytes for a catalog file"
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=BoundedLoader)
    except UnicodeDecodeError:
        return None, "file is not UTF-8 text"
    except YamlLimitError as exc:
        return None, str(exc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, f"YAML syntax error{where}: {exc.problem or exc.context}"
    except yaml.YAMLError as exc:
        return None, f"YAML syntax error: {exc}"
    if data is None:
        return None, "file is empty; expected a mapping of fields such as `name: …`"
    if not isinstance(data, dict):
        return None, f"expected a mapping of fields at the top level, got {type_name(data)}"
    return data, None


class BoundedLoader(yaml.SafeLoader):
    """Safe YAML that counts aliases and nesting while composing, checks the expanded
    size before constructing, and refuses a key given twice (PyYAML keeps the last)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlLimitError(
                    f"line {line}: more than {MAX_ALIASES} aliases (*name); the limit is "
                    f"{MAX_ALIASES} per file"
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlLimitError(
                    f"line {line}: nested deeper than the limit of {MAX_DEPTH} levels"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: yaml.Node) -> object:
        expanded = expanded_size(node)
        if expanded > MAX_EXPANDED_NODES:
            raise YamlLimitError(
                f"the document expands to more than {MAX_EXPANDED_NODES:,} values once its "
                f"aliases are resolved; the limit is {MAX_EXPANDED_NODES:,}"
            )
        return super().construct_document(node)


def expanded_size(root: yaml.Node) -> int:
    """Nodes in the tree `root` stands for, counting an aliased node once per use.

    Walks the node graph once (sizes of shared nodes are remembered), stops as soon as
    the count passes the limit, and refuses a node that contains itself.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_EXPANDED_NODES:
                return sizes[key]
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            line = node.start_mark.line + 1
            raise YamlLimitError(f"line {line}: an alias refers to a value that contains it")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _construct_unique_mapping(
    loader: BoundedLoader, node: yaml.MappingNode
) -> dict[object, object]:
    seen: dict[object, int] = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping reports it below
            continue
        if first is not None:
            problem = f"duplicate key {key!r} (first given at line {first})"
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


BoundedLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def type_name(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "a number", float: "a number", type(None): "nothing"}
    return names.get(type(value), f"a {type(value).__name__}")
