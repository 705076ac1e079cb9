"""A command group whose sub-commands are imported only when invoked (click's LazyGroup).

Help lists every entry from its one-line summary without importing it, so a read
command pays only for the modules it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import typer
from typer._click import Command, Context  # typer vendors click
from typer.core import TyperCommand, TyperGroup

from modelops.cli import collector


@dataclass(frozen=True)
class SubCommand:
    """Where a sub-command lives: a module and its attribute, a `typer.Typer` or a function."""

    module: str
    summary: str
    attribute: str = "app"

    def load(self, name: str) -> Command:
        target = getattr(importlib.import_module(self.module), self.attribute)
        if isinstance(target, typer.Typer):
            command: Command = typer.main.get_group(target)
        else:
            # A plain function is a single command, as `app.command(name)(fn)` makes it.
            single = typer.Typer(add_completion=False)
            single.command(name)(target)
            command = typer.main.get_command(single)
        command.name = name
        return command


class LazyGroup(TyperGroup):
    """A group of `SubCommand`s: placeholders for help, the real command once named."""

    def __init__(self, *, entries: Mapping[str, SubCommand], **attrs: Any) -> None:
        placeholders: dict[str, Command] = {
            name: TyperCommand(name, help=entry.summary) for name, entry in entries.items()
        }
        super().__init__(commands=placeholders, **attrs)
        self._entries = dict(entries)
        self._loaded: dict[str, Command] = {}

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        name = args[0] if args else None
        if name is None or name not in self._entries:
            return super().resolve_command(ctx, args)  # unknown: click's error, with suggestions
        return name, self.load(name), args[1:]

    def load(self, name: str) -> Command:
        """The real command `name`, imported on first use."""
        if name not in self._loaded:
            self._loaded[name] = self._entries[name].load(name)
            collector.resume()  # what the command runs on is loaded now
        return self._loaded[name]
