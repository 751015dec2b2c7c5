"""STA query options (18-088 §9.3): ``$top``, ``$skip``, ``$count``, ``$select``, ``$expand``, ...

:func:`parse_query_options` turns the query parameters of one request into a frozen
:class:`QueryOptions` for a given entity type, recursively for ``$expand``. ``$filter`` and
``$orderby`` are kept as raw text (``hub.sta.filter`` parses them); everything else is validated
here against the model in :mod:`hub.sta.entities`.

Errors are :class:`OptionError` with an HTTP status: 501 for a ``$``-option the server does not
implement (18-088 §9.3: "unsupported query option"), 400 for a malformed value, a duplicate, an
unknown property or an expand tree that is too deep or wide. Parameters without a ``$`` are
ignored: they may be API keys or cache busters.

``$top`` above ``max_top`` is clamped, not refused, as FROST-Server does: a client asking for
"everything" gets the largest page plus an ``@iot.nextLink`` and can follow it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from hub.sta.entities import (
    EntityType,
    NavigationSpec,
    UnknownProperty,
    quote_name,
    resolve_path,
)

ResultFormat = Literal["dataArray", "csv", "geojson"]

# Longest accepted value of any option: query strings are already capped by the HTTP server, but
# a smaller cap keeps one request from making the $filter parser chew on megabytes.
MAX_OPTION_LENGTH = 65_536
# Expanded navigations in the whole tree: each one is another query per page.
MAX_EXPAND_ITEMS = 32
MAX_SKIP = 2**63 - 1
# Page size when the client gives no $top (also for the levels a multi-level $expand implies).
DEFAULT_TOP = 100
MAX_TOP = 10_000
# A $skiptoken is a short base64url text (hub.sta.paging); anything longer is not one of ours.
MAX_SKIPTOKEN_LENGTH = 2048

_KNOWN = (
    "$top",
    "$skip",
    "$count",
    "$select",
    "$orderby",
    "$filter",
    "$expand",
    "$resultFormat",
    "$skiptoken",
)
# Option names are matched case-insensitively (OData 4.01 §5.1); keys map back to the spelling.
_CANONICAL = {name.lower(): name for name in _KNOWN}
# Allowed inside $expand(...) per 18-088 §9.3.2.1 ($resultFormat is top-level only; a
# $skiptoken only ever comes back in a top-level nextLink).
_NESTED = frozenset(_KNOWN) - {"$resultFormat", "$skiptoken"}
_FORMATS: dict[str, ResultFormat] = {"dataarray": "dataArray", "csv": "csv", "geojson": "geojson"}
_DIGITS_RE = re.compile(r"[0-9]+")
_NAME_RE = re.compile(r"[A-Za-z@][A-Za-z0-9_.]*")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-.]+")


class OptionError(ValueError):
    """A query option the server refuses; ``status`` is 400 (bad value) or 501 (unsupported)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Expand:
    """One ``$expand`` item: a navigation path from the parent entity and the options for its end.

    ``path`` holds the names (``("Datastreams", "ObservedProperty")``), ``navigations`` the
    resolved specs, and ``options`` are parsed for the type at the end of the path.
    """

    path: tuple[str, ...]
    navigations: tuple[NavigationSpec, ...]
    options: QueryOptions

    @property
    def to_many(self) -> bool:
        """Whether the expansion is a collection (serialised as an array, paged, countable)."""
        return any(nav.to_many for nav in self.navigations)


@dataclass(frozen=True, slots=True)
class QueryOptions:
    """The validated query options of one request (or of one ``$expand`` item) for ``entity``.

    ``top`` is always set (the default, or the client's value clamped to the maximum). An empty
    ``select`` means "all properties". ``filter_text``/``orderby_text`` are unparsed, and so is
    ``skiptoken`` (:mod:`hub.sta.paging` decodes it). ``raw`` keeps the options of this level as
    given (canonical names, client order) so that a nextLink can repeat them.
    """

    entity: EntityType
    top: int
    skip: int = 0
    count: bool = False
    select: tuple[str, ...] = ()
    orderby_text: str | None = None
    filter_text: str | None = None
    expand: tuple[Expand, ...] = ()
    result_format: ResultFormat | None = None
    skiptoken: str | None = None
    raw: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Limits:
    max_top: int
    default_top: int
    max_expand_depth: int


def parse_query_options(
    params: Mapping[str, str] | Sequence[tuple[str, str]],
    entity: EntityType,
    *,
    max_top: int = MAX_TOP,
    default_top: int = DEFAULT_TOP,
    max_expand_depth: int = 3,
) -> QueryOptions:
    """Parse and validate the ``$``-options in ``params`` for a request on ``entity``.

    Pass a sequence of pairs (e.g. ``request.args.items(multi=True)``) rather than a mapping when
    the source can hold repeated keys, so that a duplicated option is detected (400).
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    raw: dict[str, str] = {}
    for key, value in pairs:
        if not key.startswith("$"):
            continue
        name = _canonical(key)
        if name in raw:
            raise OptionError(f"{name} given more than once")
        raw[name] = value
    limits = _Limits(max_top, min(default_top, max_top), max_expand_depth)
    budget = [MAX_EXPAND_ITEMS]
    return _build(raw, entity, limits, depth=0, budget=budget)


def _canonical(key: str) -> str:
    name = _CANONICAL.get(key.lower())
    if name is None:
        raise OptionError(f"query option {quote_name(key)} is not supported", 501)
    return name


def _build(
    raw: Mapping[str, str], entity: EntityType, limits: _Limits, depth: int, budget: list[int]
) -> QueryOptions:
    for name, value in raw.items():
        if value.strip() == "":
            raise OptionError(f"{name}: empty value")
        if len(value) > MAX_OPTION_LENGTH:
            raise OptionError(f"{name}: value longer than {MAX_OPTION_LENGTH} characters")
    top = limits.default_top
    if "$top" in raw:
        top = min(_non_negative("$top", raw["$top"], limits.max_top), limits.max_top)
    skip = _non_negative("$skip", raw["$skip"], None) if "$skip" in raw else 0
    return QueryOptions(
        entity=entity,
        top=top,
        skip=skip,
        count=_boolean("$count", raw["$count"]) if "$count" in raw else False,
        select=_select(raw["$select"], entity) if "$select" in raw else (),
        orderby_text=raw.get("$orderby"),
        filter_text=raw.get("$filter"),
        expand=(_expand(raw["$expand"], entity, limits, depth, budget) if "$expand" in raw else ()),
        result_format=(
            _result_format(raw["$resultFormat"], entity) if "$resultFormat" in raw else None
        ),
        skiptoken=_skiptoken(raw["$skiptoken"]) if "$skiptoken" in raw else None,
        raw=tuple(raw.items()),
    )


def _non_negative(name: str, text: str, clamp: int | None) -> int:
    if _DIGITS_RE.fullmatch(text) is None:
        raise OptionError(f"{name}: {quote_name(text)} is not a non-negative integer")
    if len(text) > 19:
        # Too long to be a 64-bit number: int() of thousands of digits is slow and pointless.
        if clamp is not None:
            return clamp
        raise OptionError(f"{name}: {quote_name(text)} is larger than {MAX_SKIP}")
    number = int(text)
    if clamp is None and number > MAX_SKIP:
        raise OptionError(f"{name}: {quote_name(text)} is larger than {MAX_SKIP}")
    return number


def _boolean(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise OptionError(f"{name}: {quote_name(text)} is not true or false")
    return lowered == "true"


def _select(text: str, entity: EntityType) -> tuple[str, ...]:
    names: list[str] = []
    for item in (part.strip(" ") for part in text.split(",")):
        if item == "*":
            names.extend(spec.name for spec in entity.properties)
            continue
        if _NAME_RE.fullmatch(item) is None:
            raise OptionError(f"$select: {quote_name(item)} is not a property name")
        if entity.has_navigation(item):
            names.append(item)
            continue
        try:
            names.append(entity.property(item).name)
        except UnknownProperty as exc:
            raise OptionError(f"$select: {exc}") from None
    # Keep the client's order (it is the column order for CSV) but each name once.
    return tuple(dict.fromkeys(names))


def _skiptoken(text: str) -> str:
    # Only the shape is checked here; hub.sta.paging checks the content against the query.
    if len(text) > MAX_SKIPTOKEN_LENGTH or _TOKEN_RE.fullmatch(text) is None:
        raise OptionError("$skiptoken: not a token this server issued")
    return text


def _result_format(text: str, entity: EntityType) -> ResultFormat:
    fmt = _FORMATS.get(text.lower())
    if fmt is None:
        raise OptionError(
            f"$resultFormat: {quote_name(text)} is not one of dataArray, CSV, GeoJSON"
        )
    if fmt == "dataArray" and entity.name != "Observation":
        raise OptionError(f"$resultFormat: dataArray applies to Observations, not {entity.name}")
    return fmt


# --- $expand -------------------------------------------------------------------------------------


def split_top_level(text: str, separator: str) -> list[str]:
    """Split ``text`` at ``separator`` outside parentheses and single-quoted OData strings.

    ``''`` inside a string is an escaped quote. Unbalanced parentheses or an unterminated string
    raise :class:`OptionError` (400).
    """
    parts: list[str] = []
    depth = 0
    in_string = False
    start = 0
    for index, char in enumerate(text):
        if in_string:
            # A doubled quote re-enters the string at the next character, so toggling is exact.
            if char == "'":
                in_string = False
        elif char == "'":
            in_string = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise OptionError("$expand: unbalanced ')'")
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if in_string:
        raise OptionError("$expand: unterminated string literal")
    if depth != 0:
        raise OptionError("$expand: unbalanced '('")
    parts.append(text[start:])
    return parts


def _expand(
    text: str, entity: EntityType, limits: _Limits, depth: int, budget: list[int]
) -> tuple[Expand, ...]:
    items: list[Expand] = []
    seen: set[tuple[str, ...]] = set()
    for item in split_top_level(text, ","):
        expand = _expand_item(item.strip(" "), entity, limits, depth, budget)
        if expand.path in seen:
            raise OptionError(f"$expand: {'/'.join(expand.path)!r} expanded twice")
        seen.add(expand.path)
        items.append(expand)
    return tuple(items)


def _expand_item(
    item: str, entity: EntityType, limits: _Limits, depth: int, budget: list[int]
) -> Expand:
    if item == "":
        raise OptionError("$expand: empty item")
    path_text, options_text = item, None
    if "(" in item:
        cut = item.index("(")
        if not item.endswith(")"):
            raise OptionError(f"$expand: text after the options of {quote_name(item[:cut])}")
        path_text, options_text = item[:cut], item[cut + 1 : -1]
    path = tuple(path_text.split("/"))
    if depth + len(path) > limits.max_expand_depth:
        raise OptionError(f"$expand: deeper than {limits.max_expand_depth} levels")
    budget[0] -= 1
    if budget[0] < 0:
        raise OptionError(f"$expand: more than {MAX_EXPAND_ITEMS} expanded navigations")
    try:
        resolved = resolve_path(entity, path)
    except UnknownProperty as exc:
        raise OptionError(f"$expand: {exc}") from None
    if resolved.property is not None:
        raise OptionError(f"$expand: {quote_name(path_text)} is not a navigation property")
    try:
        raw = _nested_options(options_text) if options_text is not None else {}
        options = _build(raw, resolved.entity, limits, depth + len(path), budget)
    except OptionError as exc:
        # Name the item so that "$top: '-1' ..." says which expansion it came from.
        message = str(exc).removeprefix("$expand: ")
        raise OptionError(f"$expand {path_text}: {message}", exc.status) from None
    return Expand(path, resolved.hops, options)


def _nested_options(text: str) -> dict[str, str]:
    raw: dict[str, str] = {}
    for part in split_top_level(text, ";"):
        key, equals, value = part.partition("=")
        key = key.strip(" ")
        if not equals or not key.startswith("$"):
            raise OptionError(f"$expand: {quote_name(part)} is not a $option=value pair")
        name = _canonical(key)
        if name not in _NESTED:
            raise OptionError(f"$expand: {name} is not allowed inside $expand")
        if name in raw:
            raise OptionError(f"$expand: {name} given more than once")
        raw[name] = value
    return raw
