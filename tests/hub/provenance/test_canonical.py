"""Canonical bytes: RFC 8785 vectors, the §5.3 time rules, and fast paths equal to rfc8785."""

from __future__ import annotations

import json
import math
import re
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hub.provenance.canonical import (
    CanonicalError,
    binding_bytes,
    canonical_json,
    check_canonical,
    core_bytes,
    nfc,
    sha256_hex,
    utc_text,
)

# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def from_bits(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_appendix_b_numbers(bits: str, expected: str) -> None:
    number = from_bits(bits)
    assert canonical_json(number) == expected.encode()
    assert core_bytes({"result": number}) == b'{"result":' + expected.encode() + b"}"


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_appendix_b_nan_and_infinity_are_rejected(bits: str) -> None:
    number = from_bits(bits)
    with pytest.raises(CanonicalError):
        canonical_json(number)
    with pytest.raises(CanonicalError):
        core_bytes({"result": number})
    with pytest.raises(CanonicalError):
        core_bytes({"parameters": {"x": [number]}})


def test_section_3_2_2_example() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()
    value = json.loads(source)
    assert canonical_json(value) == expected
    assert core_bytes({"parameters": value}) == b'{"parameters":' + expected + b"}"


def test_section_3_2_3_utf16_sort() -> None:
    source = (
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", '
        '"\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", '
        '"\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", '
        '"\\u00f6": "Latin Small Letter O With Diaeresis"}'
    )
    value = json.loads(source)
    order = [v for _k, v in json.loads(canonical_json(value)).items()]
    assert order == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    assert core_bytes({"parameters": value}) == canonical_json({"parameters": value})


def test_integer_domain() -> None:
    assert canonical_json(2**53 - 1) == b"9007199254740991"
    assert core_bytes({"result": -(2**53) + 1}) == b'{"result":-9007199254740991}'
    for big in (2**53, -(2**53), 2**64):
        with pytest.raises(CanonicalError):
            canonical_json(big)
        with pytest.raises(CanonicalError):
            core_bytes({"result": big})
        with pytest.raises(CanonicalError):
            binding_bytes("urn:x", "0" * 64, big)


def test_other_rejections() -> None:
    for bad in ({1: "non-string key"}, {"a": 1, 2: 3}, {"k": object()}, "\ud800", {"\udfff": 1}):
        with pytest.raises(CanonicalError):
            canonical_json(bad)
        with pytest.raises(CanonicalError):
            core_bytes({"parameters": bad})
    with pytest.raises(CanonicalError):
        core_bytes({"obs_id": "lone \udc00 surrogate"})
    with pytest.raises(CanonicalError):
        binding_bytes("\ud800", "0" * 64, 1)


def test_utc_text() -> None:
    plus_five = timezone(timedelta(hours=5))
    assert utc_text(datetime(2026, 4, 1, 15, 0, tzinfo=plus_five)) == "2026-04-01T10:00:00Z"
    assert utc_text(datetime(2026, 4, 1, 10, 0, 0, 120000, UTC)) == "2026-04-01T10:00:00.12Z"
    assert utc_text(datetime(2026, 4, 1, 10, 0, 0, 123456, UTC)) == "2026-04-01T10:00:00.123456Z"
    assert utc_text(datetime(2026, 4, 1, 10, 0, 0, 100, UTC)) == "2026-04-01T10:00:00.0001Z"
    assert utc_text(datetime(31, 12, 31, 23, 59, 59, tzinfo=UTC)) == "0031-12-31T23:59:59Z"
    with pytest.raises(CanonicalError, match="naive"):
        utc_text(datetime(2026, 4, 1, 10, 0))
    with pytest.raises(CanonicalError):
        utc_text(datetime(1, 1, 1, 0, 0, tzinfo=plus_five))


UTC_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?Z")


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m))),
    )
)
def test_utc_text_round_trips(moment: datetime) -> None:
    text = utc_text(moment)
    assert UTC_TEXT.fullmatch(text)
    assert datetime.fromisoformat(text) == moment


def test_nfc_and_sha256() -> None:
    decomposed = "\u0418\u0306"  # И + combining breve
    assert nfc(decomposed) == "\u0419"
    assert nfc("Қазгидромет") == "Қазгидромет"
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_check_canonical() -> None:
    check_canonical(b'{"a":1,"b":[true,null,"x"]}')
    for bad in [
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b'{"a":1.0}',
        b'{"a":1,"a":1}',
        b'{"a":NaN}',
        b'{"a":9007199254740992}',
        b'{"a":"\\u00e9"}',
        b'{"a":1}\n',
        b"\xff",
        b"",
        b'"\\ud800"',
    ]:
        with pytest.raises(CanonicalError):
            check_canonical(bad)


# --- the fast paths equal rfc8785 -------------------------------------------------------

BOUNDARY_FLOATS = [
    -0.0,
    5e-324,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    1e-7,
    math.nextafter(1e-6, 0),
    1e-6,
    math.nextafter(1e-4, 0),
    1e-4,
    math.nextafter(1e16, 0),
    1e16,
    math.nextafter(1e21, 0),
    1e21,
    math.nextafter(1e21, math.inf),
    12.0,
    12.3,
    0.1 + 0.2,
    1.7976931348623157e308,
]
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    BOUNDARY_FLOATS + [-x for x in BOUNDARY_FLOATS]
)
ints = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
special_chars = st.sampled_from(
    [
        '"',
        "\\",
        "/",
        "\x00",
        "\x1f",
        "\x7f",
        "\b",
        "\f",
        "\n",
        "\r",
        "\t",
        "\u2028",
        "\ue000",
        "\uffff",
        "\U0001f600",
        "\U00010000",
        "й",
        "\u0306",
    ]
)
texts = st.text(alphabet=st.characters(codec="utf-8") | special_chars, max_size=12)
ascii_texts = st.text(alphabet=st.characters(codec="ascii"), max_size=12)
keys = texts | ascii_texts
scalars = st.none() | st.booleans() | ints | floats | texts
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=20,
)
times = st.datetimes(timezones=st.just(UTC)).map(utc_text)
cores = st.fixed_dictionaries(
    {
        "obs_id": texts,
        "datastream": ascii_texts,
        "foi": ascii_texts,
        "observed_property": ascii_texts,
        "phenomenon_time": times,
        "result": json_values,
    },
    optional={
        "unit": ascii_texts,
        "result_time": times,
        "result_quality": json_values,
        "valid_time": times,
        "parameters": st.dictionaries(keys, json_values, max_size=5),
    },
)

TYPICAL_CORE: dict[str, Any] = {
    "obs_id": "urn:auasu:astana:obs:12:2026-04-01T10:00:00Z",
    "datastream": "urn:auasu:astana:datastream:12",
    "foi": "urn:auasu:astana:foi:station-12",
    "observed_property": "http://vocab.nerc.ac.uk/collection/P01/current/PM2.5/",
    "unit": "ug/m3",
    "phenomenon_time": "2026-04-01T09:00:00Z/2026-04-01T10:00:00Z",
    "result_time": "2026-04-01T10:00:00Z",
    "result": 12.3,
    "result_quality": "valid",
    "parameters": {"flag": "N", "received": {"code": "a34004-Avg", "value": "12.3"}},
}


@settings(max_examples=500)
@given(cores)
@example(TYPICAL_CORE)
@example({"result": 1e21, "parameters": {"\U0001f600": 1, "\ufb33": 2}})
def test_core_bytes_equals_rfc8785(core: dict[str, Any]) -> None:
    assert core_bytes(core) == rfc8785.dumps(core)


@settings(max_examples=500)
@given(json_values)
def test_fast_encoder_equals_rfc8785_for_any_json(value: Any) -> None:
    assert core_bytes({"result": value, "parameters": {"v": value}}) == rfc8785.dumps(
        {"result": value, "parameters": {"v": value}}
    )


@settings(max_examples=300)
@given(floats)
def test_float_rendering_equals_rfc8785(number: float) -> None:
    assert core_bytes({"result": number}) == rfc8785.dumps({"result": number})


@given(texts, st.text(alphabet="0123456789abcdef", min_size=64, max_size=64) | texts, ints)
def test_binding_bytes_equals_rfc8785(obs_id: str, digest: str, raw: int) -> None:
    expected = rfc8785.dumps({"core": {"sha256": digest}, "obs_id": obs_id, "raw": raw})
    assert binding_bytes(obs_id, digest, raw) == expected


def test_unusual_shapes_fall_back_to_rfc8785() -> None:
    extra_key = {**TYPICAL_CORE, "aqhub:prov": {"record": "x"}}
    assert core_bytes(extra_key) == rfc8785.dumps(extra_key)
    assert binding_bytes("urn:x", "0" * 64, True) == canonical_json(
        {"core": {"sha256": "0" * 64}, "obs_id": "urn:x", "raw": True}
    )
    with pytest.raises(CanonicalError):
        core_bytes({"result": {"nested": [1, {"deep": math.nan}]}})
