"""Schemas of what a weight folder declares: ``config.json`` and the card's YAML front matter.

Both come from wherever the weights came from (a download, a stranger's folder), so they are checked before
anything is built from them: the size of the file (:data:`MAX_CONFIG_BYTES`, :data:`MAX_FRONT_MATTER_BYTES`), the
nesting depth (:data:`MAX_DEPTH`), no ``NaN``/``Infinity`` literals and no YAML aliases (a few bytes of aliases can
expand to gigabytes), then the types of the fields the zoo reads (pydantic). Every problem is a
:class:`~zoo_core.errors.WeightsError` naming the file and the field; never a ``TypeError``, ``AttributeError`` or
``RecursionError`` from deeper down. Fields the zoo does not read (metrics, recipes, timm's keys, provenance, ...)
are allowed as plain JSON.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictInt, StrictStr, ValidationError

from ..errors import WeightsError

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_FRONT_MATTER_BYTES",
    "CardFrontMatter",
    "ConfigSchema",
    "check_front_matter",
    "nesting_depth",
    "parse_config",
]

#: the largest ``config.json`` read (the demo configs are a few KiB)
MAX_CONFIG_BYTES = 1 << 20
#: the largest card front matter read
MAX_FRONT_MATTER_BYTES = 256 << 10
#: the deepest nesting of lists/objects accepted in either (the zoo's own configs nest 4 deep)
MAX_DEPTH = 32

_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$"  # a registered model name (a dot would start a weight tag)
_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_FILE = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$"
_SHA256 = r"^[0-9a-f]{64}$"


class ParameterCounts(BaseModel):
    model_config = ConfigDict(extra="allow")

    total: StrictInt = Field(ge=0)
    without_bn_affine: StrictInt = Field(ge=0)


class ConfigSchema(BaseModel):
    """The fields of ``config.json`` the zoo reads; other fields may hold any JSON."""

    model_config = ConfigDict(extra="allow", strict=True)

    format: StrictInt = Field(1, ge=1)
    zoo_core_version: StrictStr | None = None
    model: Annotated[str, Field(pattern=_NAME)]
    tag: Annotated[str, Field(pattern=_TAG)] | None = None
    plugin: StrictStr | None = None
    task: StrictStr | None = None
    args: dict[str, JsonValue]
    T: Annotated[StrictInt, Field(ge=1)] | None = None
    num_classes: Annotated[StrictInt, Field(ge=0)] | None = None
    preprocessing: dict[str, JsonValue] | None = None
    parameters: ParameterCounts | None = None
    files: dict[Annotated[str, Field(pattern=_FILE)], Annotated[str, Field(pattern=_SHA256)]] | None = None


class CardFrontMatter(BaseModel):
    """The card metadata fields the Hub and the zoo read; other fields may hold any YAML scalar/list/map."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    license: StrictStr | None = None
    library_name: StrictStr | None = None
    pipeline_tag: StrictStr | None = None
    tags: list[StrictStr] | None = None
    datasets: StrictStr | list[StrictStr] | None = None
    metrics: list[StrictStr] | None = None
    language: StrictStr | list[StrictStr] | None = None
    base_model: StrictStr | list[StrictStr] | None = None
    model_index: list[dict[str, JsonValue]] | None = Field(None, alias="model-index")


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of lists/dicts in ``value`` (a scalar: 0), counted without recursion; stops early
    once ``limit`` is passed (returning ``limit + 1``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _problems(exc: ValidationError, limit: int = 5) -> str:
    out = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = repr(err.get("input"))
        out.append(f"{where}: {err['msg']} (got {got[:60] + '...' if len(got) > 60 else got})")
    more = len(exc.errors()) - limit
    return "; ".join(out) + (f"; and {more} more" if more > 0 else "")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_config(data: bytes | bytearray, where: str) -> dict[str, Any]:
    """Parse and validate the bytes of a ``config.json``; return it as a dict (all its fields)."""
    if len(data) > MAX_CONFIG_BYTES:
        raise WeightsError(
            f"{where}: {len(data):,} bytes, more than a config.json may have ({MAX_CONFIG_BYTES:,})"
        )
    try:
        cfg = json.loads(data.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, NaN/Infinity, integers too long
        raise WeightsError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise WeightsError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    return _validated(cfg, ConfigSchema, where, "config.json", "expected a JSON object")


def _validated(
    obj: Any, schema: type[BaseModel], where: str, what: str, not_a_mapping: str
) -> dict[str, Any]:
    """``obj`` if it is a mapping no deeper than :data:`MAX_DEPTH` that ``schema`` accepts, else a
    :class:`WeightsError` naming ``where`` and the first problems."""
    if not isinstance(obj, dict):
        raise WeightsError(f"{where}: {not_a_mapping}, got {type(obj).__name__}")
    if nesting_depth(obj) > MAX_DEPTH:
        raise WeightsError(f"{where}: {what} nested deeper than {MAX_DEPTH} levels")
    try:
        schema.model_validate(obj)
    except ValidationError as exc:
        raise WeightsError(f"{where}: invalid {what}: {_problems(exc)}") from None
    return obj


def _front_matter(text: str) -> str | None:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None
    for i, line in enumerate(lines[1:], 1):
        if line.strip() == "---":
            return "".join(lines[1:i])
    return None


def check_front_matter(text: str, where: str) -> dict[str, Any]:
    """Check the YAML front matter of a card (size, no aliases, depth, field types); return it (``{}``: none)."""
    import yaml  # PyYAML (a huggingface_hub dependency), loaded only when a card is checked

    block = _front_matter(text)
    if block is None:
        return {}
    if len(block.encode()) > MAX_FRONT_MATTER_BYTES:
        raise WeightsError(f"{where}: front matter larger than {MAX_FRONT_MATTER_BYTES:,} bytes")

    class _NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.YAMLError("YAML aliases (*name) are not allowed in a card's front matter")
            return super().compose_node(parent, index)

    try:
        meta = yaml.load(block, Loader=_NoAliases)  # a SafeLoader that refuses aliases
    except yaml.YAMLError as exc:
        raise WeightsError(
            f"{where}: front matter is not valid YAML ({' '.join(str(exc).split())})"
        ) from None
    except RecursionError:
        raise WeightsError(f"{where}: front matter nested deeper than {MAX_DEPTH} levels") from None
    if meta is None:
        return {}
    return _validated(
        meta, CardFrontMatter, where, "card front matter", "front matter must be a YAML mapping"
    )
