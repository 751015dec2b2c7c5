"""The store's JSON decoder: orjson's speed, the standard library's leniency."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from hub.store.jsoncodec import loads

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(_JSON)
def test_reads_back_what_the_standard_encoder_wrote(value: object) -> None:
    assert loads(json.dumps(value)) == value


def test_values_orjson_refuses_still_read() -> None:
    # json.dumps writes these; older rows may hold them.
    decoded = loads(json.dumps({"nan": math.nan, "inf": math.inf, "big": 2**70}))
    assert math.isnan(decoded["nan"])
    assert decoded["inf"] == math.inf
    assert decoded["big"] == 2**70


def test_bytes_and_text_both_decode() -> None:
    assert loads(b'{"unit": "\xc2\xb5g/m\xc2\xb3"}') == {"unit": "µg/m³"}
    assert loads('{"unit": "µg/m³"}') == {"unit": "µg/m³"}
