"""STA query options: values, limits, 501 for unknown options, and nested $expand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.sta.entities import DATASTREAM, OBSERVATION, THING, UnknownProperty
from hub.sta.options import (
    MAX_EXPAND_ITEMS,
    OptionError,
    QueryOptions,
    parse_query_options,
    split_top_level,
)


def parse(query: list[tuple[str, str]] | dict[str, str], **limits: int) -> QueryOptions:
    return parse_query_options(query, THING, **limits)


def error(query: list[tuple[str, str]] | dict[str, str], **limits: int) -> OptionError:
    with pytest.raises(OptionError) as info:
        parse(query, **limits)
    assert "\n" not in str(info.value)
    return info.value


def test_defaults() -> None:
    options = parse({})
    assert options.entity is THING
    assert (options.top, options.skip, options.count) == (100, 0, False)
    assert options.select == () and options.expand == ()
    assert options.filter_text is None and options.orderby_text is None
    assert options.result_format is None
    assert parse({}, default_top=50_000, max_top=1000).top == 1000


def test_every_option() -> None:
    options = parse(
        {
            "$top": "5",
            "$skip": "10",
            "$count": "true",
            "$select": "name, id,Datastreams,name",
            "$orderby": "name desc,id",
            "$filter": "name eq 'x'' or 1 eq 1'",
            "$resultFormat": "GeoJSON",
        }
    )
    assert (options.top, options.skip, options.count) == (5, 10, True)
    assert options.select == ("name", "id", "Datastreams")
    assert options.orderby_text == "name desc,id"
    assert options.filter_text == "name eq 'x'' or 1 eq 1'"
    assert options.result_format == "geojson"


def test_non_dollar_parameters_are_ignored() -> None:
    options = parse([("api_key", "secret"), ("top", "-1"), ("$top", "3"), ("", "")])
    assert options.top == 3


def test_option_names_are_case_insensitive() -> None:
    assert parse({"$TOP": "2", "$Count": "TRUE"}).top == 2
    assert error([("$top", "1"), ("$Top", "2")]).status == 400


def test_top_is_clamped_to_max_top() -> None:
    assert parse({"$top": "1000000000"}).top == 10_000
    assert parse({"$top": "9" * 500}, max_top=50).top == 50
    assert parse({"$top": "0"}).top == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("$top", "-1"),
        ("$top", "abc"),
        ("$top", "+5"),
        ("$top", "1.5"),
        ("$top", " 5"),
        ("$top", "\u0665"),  # Arabic-Indic five: str.isdigit() says yes
        ("$top", ""),
        ("$skip", "-1"),
        ("$skip", "1e3"),
        ("$skip", "99999999999999999999"),
        ("$count", "yes"),
        ("$count", "1"),
        ("$count", ""),
        ("$select", "nmae"),
        ("$select", "Datastreams/name"),
        ("$select", "name,"),
        ("$select", "name;description"),
        ("$orderby", ""),
        ("$filter", " "),
        ("$filter", "x" * 70_000),
        ("$resultFormat", "xml"),
        ("$resultFormat", "dataArray"),  # Observations only
        ("$expand", "Datastreams/name"),
        ("$expand", "Sensors"),
        ("$expand", "Datastreams,Datastreams"),
        ("$expand", "Datastreams("),
        ("$expand", "Datastreams)"),
        ("$expand", "Datastreams($top=1)x"),
        ("$expand", "Datastreams($top=1)($top=2)"),
        ("$expand", "Datastreams($top=-1)"),
        ("$expand", "Datastreams($top=1;$top=2)"),
        ("$expand", "Datastreams(top=1)"),
        ("$expand", "Datastreams($top)"),
        ("$expand", "Datastreams($resultFormat=csv)"),
        ("$expand", "Datastreams($filter=name eq 'a)"),
        ("$expand", "Datastreams,"),
        ("$expand", ""),
    ],
)
def test_malformed_values_are_400_naming_the_option(option: str, value: str) -> None:
    exc = error({option: value})
    assert exc.status == 400
    assert option in str(exc)


def test_duplicated_option_is_400() -> None:
    exc = error([("$top", "1"), ("$top", "1")])
    assert exc.status == 400 and "$top" in str(exc)


@pytest.mark.parametrize("option", ["$search", "$apply", "$format", "$levels", "$", "$top "])
def test_unknown_dollar_options_are_501(option: str) -> None:
    exc = error({option: "x"})
    assert exc.status == 501
    assert "not supported" in str(exc)


def test_unknown_option_inside_expand_is_501() -> None:
    assert error({"$expand": "Datastreams($search=x)"}).status == 501


def test_select_accepts_iot_id_and_star() -> None:
    assert parse({"$select": "@iot.id,name"}).select == ("id", "name")
    assert parse({"$select": "*"}).select == ("id", "name", "description", "properties")


def test_result_formats() -> None:
    for text, expected in [("dataArray", "dataArray"), ("CSV", "csv"), ("GeoJSON", "geojson")]:
        options = parse_query_options({"$resultFormat": text}, OBSERVATION)
        assert options.result_format == expected
    assert parse({"$resultFormat": "csv"}).result_format == "csv"


# --- $expand -------------------------------------------------------------------------------------


def test_nested_expand_with_inner_options() -> None:
    options = parse(
        {
            "$expand": "Datastreams($filter=result gt 1;$top=5;$skip=2;$count=true;"
            "$select=name,Observations;$orderby=name desc;"
            "$expand=Observations($top=1;$orderby=phenomenonTime desc)),Locations"
        }
    )
    datastreams, locations = options.expand
    assert datastreams.path == ("Datastreams",) and datastreams.to_many
    inner = datastreams.options
    assert inner.entity is DATASTREAM
    assert (inner.top, inner.skip, inner.count) == (5, 2, True)
    assert inner.filter_text == "result gt 1"
    assert inner.select == ("name", "Observations")
    assert inner.orderby_text == "name desc"
    (observations,) = inner.expand
    assert observations.path == ("Observations",)
    assert observations.options.entity is OBSERVATION
    assert observations.options.top == 1
    assert observations.options.orderby_text == "phenomenonTime desc"
    assert locations.path == ("Locations",)
    assert locations.options.top == 100 and locations.options.expand == ()


def test_multi_level_expand() -> None:
    (item,) = parse({"$expand": "Datastreams/ObservedProperty($select=name)"}).expand
    assert item.path == ("Datastreams", "ObservedProperty")
    assert [nav.name for nav in item.navigations] == ["Datastreams", "ObservedProperty"]
    assert item.options.entity.name == "ObservedProperty"
    assert item.options.select == ("name",)


def test_to_one_expand() -> None:
    (item,) = parse_query_options({"$expand": "Datastream"}, OBSERVATION).expand
    assert not item.to_many and item.options.entity is DATASTREAM


def test_separators_inside_quotes_are_not_separators() -> None:
    (item,) = parse({"$expand": "Datastreams($filter=name eq 'a;b,c')"}).expand
    assert item.options.filter_text == "name eq 'a;b,c'"
    (item,) = parse({"$expand": "Datastreams($filter=name eq 'it''s (1;2)';$top=3)"}).expand
    assert item.options.filter_text == "name eq 'it''s (1;2)'"
    assert item.options.top == 3
    (item,) = parse(
        {"$expand": "Datastreams($filter=substringof(name,'a,b') and (id gt 1))"}
    ).expand
    assert item.options.filter_text == "substringof(name,'a,b') and (id gt 1)"


def test_split_top_level() -> None:
    assert split_top_level("a,b(c,d),'e,f'", ",") == ["a", "b(c,d)", "'e,f'"]
    assert split_top_level("'a'',b'", ",") == ["'a'',b'"]
    assert split_top_level("", ",") == [""]


def test_expand_depth_is_capped() -> None:
    assert parse({"$expand": "Datastreams/Observations/FeatureOfInterest"}).expand
    assert parse({"$expand": "Datastreams($expand=Observations($expand=FeatureOfInterest))"})
    for deep in (
        "Datastreams/Observations/FeatureOfInterest/Observations",
        "Datastreams($expand=Observations($expand=FeatureOfInterest($expand=Observations)))",
        "Datastreams/Observations($expand=FeatureOfInterest/Observations)",
        "Datastreams($expand=Thing($expand=" * 5 + "Locations" + "))" * 5,
        "Datastreams($expand=Thing($expand=" * 1000 + "Locations" + "))" * 1000,
    ):
        exc = error({"$expand": deep})
        assert exc.status == 400 and "deeper than 3" in str(exc)
    assert parse({"$expand": "Datastreams/Thing/Datastreams/Thing"}, max_expand_depth=4)


def test_expand_width_is_capped() -> None:
    wide = ",".join(["Datastreams($expand=Thing)"] * (MAX_EXPAND_ITEMS // 2 + 1))
    assert error({"$expand": wide}).status == 400


def test_inner_count_with_top_level_limits() -> None:
    options = parse({"$expand": "Datastreams($top=999999;$count=true)"}, max_top=500)
    assert options.expand[0].options.top == 500
    assert options.expand[0].options.count


def test_unknown_property_is_wrapped() -> None:
    exc = error({"$expand": "Datastreams($select=nmae)"})
    assert not isinstance(exc, UnknownProperty) and "nmae" in str(exc)


# --- hypothesis ----------------------------------------------------------------------------------

OPTION_NAMES = st.sampled_from(
    ["$top", "$skip", "$count", "$select", "$orderby", "$filter", "$expand", "$resultFormat",
     "$search", "key"]
)  # fmt: skip
EXPANDISH = st.lists(
    st.sampled_from(
        ["Datastreams", "Observations", "Thing", "Locations", "(", ")", ";", ",", "/", "'",
         "$top=", "$expand=", "$filter=", "$select=", "name", "1", "-1", " ", "=", "''"]
    ),
    max_size=25,
).map("".join)  # fmt: skip


@given(st.lists(st.tuples(OPTION_NAMES, st.text(max_size=40)), max_size=5))
def test_arbitrary_values_parse_or_raise_option_error(pairs: list[tuple[str, str]]) -> None:
    try:
        options = parse(pairs)
    except OptionError as exc:
        assert exc.status in (400, 501)
        assert "\n" not in str(exc)
    else:
        assert 0 <= options.top <= 10_000 and options.skip >= 0


@given(EXPANDISH)
def test_expand_like_text_parses_or_raises_option_error(text: str) -> None:
    try:
        parse({"$expand": text})
    except OptionError as exc:
        assert exc.status in (400, 501)


@given(st.text(max_size=60), st.text(max_size=60))
def test_arbitrary_keys_parse_or_raise_option_error(key: str, value: str) -> None:
    try:
        parse([(key, value)])
    except OptionError as exc:
        assert exc.status in (400, 501)
