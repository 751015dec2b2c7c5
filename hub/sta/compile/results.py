"""``Observation/result`` in ``$filter``: one property stored in two columns.

A result may be of any JSON type, and the store splits it (``hub/store/schema.py``,
``hub.sta.write.values.split_result``): numbers in the float column ``observations.result``
(integers up to 2**53 in ``result_json`` too, for an exact read-back); strings, booleans,
arrays (MultiDatastream observations), objects and larger integers only in the JSON column
``observations.result_json``. A result is therefore read by what it is compared with:

=================================================  ==============================================
compared with / used in                            reads
=================================================  ==============================================
a number (literal, numeric expression, JSON        the float column alone, exactly as before: no
member), arithmetic, ``round``/``floor``/          function wraps it, so the planner keeps its
``ceiling``, ``$orderby``                          statistics and a numeric filter costs nothing
                                                   more. Other results are NULL there.
a string (literal, string property, string         the result as text: a string result itself, a
function) and every string function                number as :func:`.numbers.as_text` spells it
(``substringof``, ``startswith``, ``length``,      (ets-sta10 and FROST compare a numeric result
``tolower`` ...)                                   with a string as text: ``result gt '3'`` holds
                                                   for 4..9, not for 10..12). Booleans, arrays and
                                                   objects have no text: NULL.
``true`` / ``false`` (or a boolean expression)     boolean results; NULL for the others.
``null``                                           ``eq null``: neither column holds a value (or
                                                   the JSON is ``null``); ``ne null``: the rest.
=================================================  ==============================================

So a comparison with a value of another type (``result gt 5`` on ``"calm"``, ``result eq
'calm'`` on ``true``) is false for that row and never an error: every JSON reading is guarded
by the JSON type (``json_type`` on SQLite, ``jsonb_typeof`` on PostgreSQL, which would abort
the whole query on a failed cast). Such rows are SQL NULL under the comparison, as JSON members
of another type are (:mod:`.core`): ``not (result eq 'calm')`` does not select them either.

Arrays and objects (MultiDatastream and complex observations) are deliberately matched by
nothing but ``result ne null``: no comparison, no string function, no member path
(``result/0`` is refused by the path resolver with 400). Integers beyond ±2**53, kept only as
JSON because a float would round them, are not null but match no comparison either: reading
them would put a function around the float column of every numeric filter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Text, and_, case, cast, func, literal_column, or_

from hub.sta.columns import PerDialect
from hub.sta.compile.numbers import as_text
from hub.sta.compile.operand import Operand, Readings
from hub.sta.filter import ValueType

# (entity, property) -> the JSON column holding the values that its typed column cannot.
JSON_TWINS: dict[tuple[str, str], str] = {("Observation", "result"): "result_json"}

# Constant SQL text (JSON paths of the whole document, JSON type names), never client input.
_LITE_ROOT: Any = literal_column("'$'")
_PG_ROOT: Any = literal_column("'{}'")
_LITE_TEXT: Any = literal_column("'text'")
_LITE_BOOLEANS: list[Any] = [literal_column("'true'"), literal_column("'false'")]
_PG_STRING: Any = literal_column("'string'")
_PG_BOOLEAN: Any = literal_column("'boolean'")
_JSON_NULL: Any = literal_column("'null'")


def twin(entity: str, name: str) -> str | None:
    """The JSON twin column of property ``name`` of ``entity``, if it has one."""
    return JSON_TWINS.get((entity, name))


def operand(number: Any, document: Any, vtype: ValueType | None) -> Operand:
    """The result as an operand: ``number`` (the typed column) for numeric contexts, and its
    readings over ``number`` and ``document`` (the JSON twin) for the others."""
    lite_type = func.json_type(document)
    pg_type = func.jsonb_typeof(document)
    pg_scalar = document.op("#>>", return_type=Text())(_PG_ROOT)  # a JSON scalar as text
    lite_value = func.json_extract(document, _LITE_ROOT)  # SQLite's native value (1/0 for bools)
    string = PerDialect(
        case((lite_type == _LITE_TEXT, lite_value)),
        case((pg_type == _PG_STRING, pg_scalar)),
    )
    boolean = PerDialect(
        case((lite_type.in_(_LITE_BOOLEANS), lite_value)),
        case((pg_type == _PG_BOOLEAN, cast(pg_scalar, Boolean))),
    )
    # A number first: nearly every row has one, and then as_text decides alone.
    text = func.coalesce(as_text(number), string, type_=Text())
    null = and_(
        number.is_(None),
        or_(document.is_(None), PerDialect(lite_type, pg_type) == _JSON_NULL),
    )
    return Operand(expr=number, vtype=vtype, readings=Readings(text, boolean, null))
