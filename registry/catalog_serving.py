"""What a model's catalog file says about calling it, for consumers that execute the call
themselves (the gateway's resolve): default request parameters and a prompt template.

Parameters are the OpenAI chat names, so a consumer can pass them to its client as they
are. A prompt template uses `{name}` placeholders (Python's `str.format`), each a plain
identifier; `{{` and `}}` are literal braces.
"""

from __future__ import annotations

from string import Formatter
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from registry.text import check_multi_line

MAX_PROMPT_TEMPLATE = 20_000
MAX_STOP_SEQUENCES = 4
MAX_PLACEHOLDERS = 32
_PLACEHOLDER_RULE = "placeholders are plain names such as {ticket}; write {{ and }} for braces"


class ParametersSpec(BaseModel):
    """Default parameters of a call; a consumer's own values take precedence over them."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    stop: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        default=None, min_length=1, max_length=MAX_STOP_SEQUENCES
    )

    @field_validator("stop")
    @classmethod
    def _stop_printable(cls, stop: list[str] | None) -> list[str] | None:
        for index, sequence in enumerate(stop or []):
            try:
                check_multi_line(sequence)
            except ValueError as exc:
                raise ValueError(f"stop[{index}] {exc}") from None
        return stop


def placeholders(template: str) -> list[str]:
    """The names a template's placeholders use, in order of first appearance."""
    names: list[str] = []
    for _, name, _, _ in Formatter().parse(template):
        if name is not None and name not in names:
            names.append(name)
    return names


def _check_template(template: str) -> str:
    if not template.strip():
        raise ValueError("is empty; leave prompt_template out when there is none")
    try:
        parts = list(Formatter().parse(template))
    except ValueError as exc:  # a lone '{' or '}'
        raise ValueError(f"is not a valid template ({exc}); {_PLACEHOLDER_RULE}") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise ValueError(f"placeholder {shown!r} is not allowed; {_PLACEHOLDER_RULE}")
    if len(placeholders(template)) > MAX_PLACEHOLDERS:
        raise ValueError(f"has more than {MAX_PLACEHOLDERS} distinct placeholders")
    return template


PromptTemplate = Annotated[
    str,
    Field(max_length=MAX_PROMPT_TEMPLATE),
    AfterValidator(check_multi_line),
    AfterValidator(_check_template),
]
