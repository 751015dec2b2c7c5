"""The mapping tables and MappingSet: every property defined, units normalised and converted."""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.demo import PILOT_REGISTRY
from hub.mapping import DEFAULT_DIRECTORY, MappingSet, UnitError, default_mappings

AIR_KEYS = [
    *("pm2_5", "pm10", "pm1", "tsp", "so2", "no2", "no", "nox", "co", "o3", "h2s", "nh3", "co2"),
    *("o2", "nmhc", "benzene", "toluene", "xylene", "tvoc", "smoke_dust", "flue_gas_flow"),
    *("air_temperature", "relative_humidity", "air_pressure", "wind_speed", "wind_direction"),
]
WATER_KEYS = [
    *("wastewater_flow", "ph", "colour", "turbidity", "dissolved_oxygen", "water_temperature"),
    *("suspended_solids", "conductivity", "chlorophyll_a", "bod5", "cod", "permanganate_index"),
    *("toc", "biotoxicity", "faecal_coliforms", "anionic_surfactants", "mercury", "cadmium"),
    *("chromium", "chromium_vi", "arsenic", "lead", "nickel", "copper", "zinc", "manganese"),
    *("iron", "selenium", "total_nitrogen", "ammonia_nitrogen", "nitrite", "nitrate"),
    *("total_phosphorus", "cyanide", "fluoride", "sulfide", "chloride", "sulfate", "petroleum"),
    "volatile_phenol",
]

EEA = "http://dd.eionet.europa.eu/vocabulary/aq/pollutant/"
EEA_IDS = {
    "pm2_5": "6001",
    "pm10": "5",
    "pm1": "6002",
    "so2": "1",
    "no2": "8",
    "no": "38",
    "nox": "9",
    "co": "10",
    "o3": "7",
    "h2s": "11",
    "nh3": "35",
    "co2": "71",
    "benzene": "20",
    "toluene": "21",
    "xylene": "78",
}

# HJ 212 factor code -> property key for the codes the pilot registry uses (hj212.md §1.9).
PILOT_FACTORS = {
    "a34004": "pm2_5",
    "a34002": "pm10",
    "a21026": "so2",
    "a21004": "no2",
    "a21005": "co",
    "a05024": "o3",
    "a21028": "h2s",
    "a01001": "air_temperature",
    "a01002": "relative_humidity",
    "a01006": "air_pressure",
    "a01007": "wind_speed",
    "a01008": "wind_direction",
    "w00000": "wastewater_flow",
    "w01001": "ph",
    "w01003": "turbidity",
    "w01009": "dissolved_oxygen",
    "w01010": "water_temperature",
    "w01014": "conductivity",
    "w01018": "cod",
    "w01019": "permanganate_index",
    "w21001": "total_nitrogen",
    "w21003": "ammonia_nitrogen",
    "w21011": "total_phosphorus",
}


@pytest.fixture(scope="module")
def mappings() -> MappingSet:
    return MappingSet.load()


# --- the observed-properties table ------------------------------------------------------------


def test_version_names_both_files(mappings: MappingSet) -> None:
    assert mappings.version == "observed-properties.v1+units.v1"


def test_every_agreed_key_has_a_definition(mappings: MappingSet) -> None:
    assert len(set(AIR_KEYS + WATER_KEYS)) == 66
    missing = [k for k in AIR_KEYS + WATER_KEYS if mappings.observed_property(k) is None]
    assert missing == []
    assert set(mappings.properties) == set(AIR_KEYS + WATER_KEYS)


def test_definitions_are_eea_where_confirmed_else_project_urn(mappings: MappingSet) -> None:
    for key, prop in mappings.properties.items():
        assert prop.key == key
        urn = f"urn:auasu:def:observed-property:{key}"
        expected = EEA + EEA_IDS[key] if key in EEA_IDS else urn
        assert prop.definition == expected


@pytest.mark.parametrize(
    ("key", "unit"),
    [
        ("pm2_5", "ug/m3"),
        ("tsp", "ug/m3"),
        ("nh3", "ug/m3"),
        ("co", "mg/m3"),
        ("co2", "mg/m3"),
        ("benzene", "mg/m3"),
        ("o2", "%"),
        ("air_temperature", "Cel"),
        ("relative_humidity", "%"),
        ("air_pressure", "kPa"),
        ("wind_speed", "m/s"),
        ("wind_direction", "deg"),
        ("flue_gas_flow", "m3/s"),
        ("wastewater_flow", "L/s"),
        ("ph", "[pH]"),
        ("colour", "{degree}"),
        ("turbidity", "{NTU}"),
        ("conductivity", "uS/cm"),
        ("faecal_coliforms", "{count}/L"),
        ("biotoxicity", "%"),
    ],
)
def test_canonical_unit_choices(mappings: MappingSet, key: str, unit: str) -> None:
    prop = mappings.observed_property(key)
    assert prop is not None and prop.unit == unit


def test_every_water_concentration_is_mg_per_litre(mappings: MappingSet) -> None:
    for key in WATER_KEYS:
        prop = mappings.properties[key]
        if mappings.dimension(prop.unit) == "mass_concentration":
            assert prop.unit == "mg/L", key
    for metal in ("mercury", "cadmium", "lead", "arsenic", "chromium_vi"):
        assert mappings.properties[metal].unit == "mg/L"


def test_property_unit_names_match_the_units_table(mappings: MappingSet) -> None:
    for prop in mappings.properties.values():
        info = mappings.units[prop.unit]
        assert (prop.unit_name, prop.unit_symbol) == (info.name, info.symbol), prop.key


def test_unknown_key_has_no_definition_but_a_generic_one(mappings: MappingSet) -> None:
    assert mappings.observed_property("hj212:w99999") is None
    generic = mappings.observed_property_or_generic("hj212:w99999", "µg/L")
    assert generic.definition == "urn:auasu:def:observed-property:hj212:w99999"
    assert generic.unit == "ug/L" and generic.unit_symbol == "µg/L"
    assert mappings.observed_property_or_generic("pm10", "mg/m3").unit == "ug/m3"


# --- unit normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("ug/m3", "ug/m3"),
        ("µg/m³", "ug/m3"),  # micro sign
        ("μg/m3", "ug/m3"),  # Greek mu
        ("ug/m³", "ug/m3"),
        ("mg/m³", "mg/m3"),
        (" ug / m3 ", "ug/m3"),
        ("°C", "Cel"),
        ("℃", "Cel"),
        ("degC", "Cel"),
        ("°F", "[degF]"),
        ("deg", "deg"),
        ("°", "deg"),
        ("mg/l", "mg/L"),
        ("MG/L", "mg/L"),
        ("мг/дм3", "mg/L"),
        ("мкг/м3", "ug/m3"),
        ("µS/cm", "uS/cm"),
        ("hPa", "hPa"),
        ("mbar", "mbar"),
        ("mmHg", "mm[Hg]"),
        ("pH", "[pH]"),
        ("NTU", "{NTU}"),
        ("%RH", "%"),
        ("个/L", "{count}/L"),
        ("CFU/100mL", "{count}/dL"),
    ],
)
def test_aliases_normalise_to_ucum(mappings: MappingSet, text: str, code: str) -> None:
    assert mappings.normalise_unit(text) == code


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("degree", "'deg' for angles"),
        ("Degrees", "'deg' for angles"),
        ("ppm", "'[ppm]'"),
        ("C", "coulomb"),
        ("mg/Nm3", "reference temperature"),
        ("furlongs", "unknown unit 'furlongs'"),
        ("", "unknown unit ''"),
    ],
)
def test_unknown_and_ambiguous_units_are_refused(
    mappings: MappingSet, text: str, hint: str
) -> None:
    with pytest.raises(UnitError, match=re.escape(hint)):
        mappings.normalise_unit(text)


def test_unit_error_is_a_value_error() -> None:
    assert issubclass(UnitError, ValueError)


# --- conversion ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [
        (1.0, "mg/m3", "ug/m3", 1000.0),
        (1320.0, "ug/m3", "mg/m3", 1.32),
        (38.0, "ng/m3", "ug/m3", 0.038),
        (2.4, "ug/L", "mg/L", 0.0024),
        (1.0, "g/L", "mg/L", 1000.0),
        (1.0, "mg/L", "g/m3", 1.0),
        (0.0, "Cel", "K", 273.15),
        (100.0, "Cel", "[degF]", 212.0),
        (-40.0, "[degF]", "Cel", -40.0),
        (1013.25, "hPa", "kPa", 101.325),
        (1.0, "atm", "mbar", 1013.25),
        (760.0, "mm[Hg]", "kPa", 101.32472),
        (36.0, "km/h", "m/s", 10.0),
        (1.0, "L/s", "m3/h", 3.6),
        (1.0, "m3/s", "L/s", 1000.0),
        (612.0, "uS/cm", "mS/m", 61.2),
        (1.0, "mS/cm", "uS/cm", 1000.0),
        (math.pi, "rad", "deg", 180.0),
        (0.35, "1", "%", 35.0),
        (5.0, "{count}/dL", "{count}/L", 50.0),
        (36.5, "m3", "L", 36500.0),
        (0.088, "g", "mg", 88.0),
    ],
)
def test_known_conversions(
    mappings: MappingSet, value: float, src: str, dst: str, expected: float
) -> None:
    assert mappings.convert(value, src, dst) == pytest.approx(expected, rel=1e-12)


def test_decimal_factors_are_exact(mappings: MappingSet) -> None:
    # Exact fractions: 1e-6/1e-9 must be 1000 exactly, not 999.9999999999999.
    assert mappings.convert(1.0, "mg/m3", "ug/m3") == 1000.0
    assert mappings.convert(1.0, "ug/m3", "ng/m3") == 1000.0
    assert mappings.convert(7.0, "ug/m3", "ug/m3") == 7.0


def test_convert_accepts_aliases(mappings: MappingSet) -> None:
    assert mappings.convert(1.0, "µg/m³", "mg/m³") == pytest.approx(0.001)
    assert mappings.convert(20.0, "°C", "K") == pytest.approx(293.15)


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        ("mg/m3", "[ppm]", "cannot convert"),
        ("Cel", "ug/m3", "cannot convert"),
        ("[pH]", "1", "cannot convert"),
        ("foo", "foo", "unknown unit 'foo'"),
        ("ug/m3", "bar/none", "unknown unit"),
        ("degree", "deg", "ambiguous"),
    ],
)
def test_incompatible_or_unknown_conversions_raise(
    mappings: MappingSet, src: str, dst: str, message: str
) -> None:
    with pytest.raises(UnitError, match=message):
        mappings.convert(1.0, src, dst)


def _same_dimension_pair() -> st.SearchStrategy[tuple[str, str]]:
    units = default_mappings().units
    by_dimension: dict[str, list[str]] = {}
    for code, info in units.items():
        by_dimension.setdefault(info.dimension, []).append(code)
    groups = sorted(by_dimension.values())
    return st.sampled_from(groups).flatmap(
        lambda codes: st.tuples(st.sampled_from(codes), st.sampled_from(codes))
    )


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(pair=_same_dimension_pair(), value=finite)
def test_round_trip_is_identity(pair: tuple[str, str], value: float) -> None:
    mappings = default_mappings()
    a, b = pair
    back = mappings.convert(mappings.convert(value, a, b), b, a)
    # Temperature offsets (273.15, 459.67) cost absolute precision near zero.
    assert math.isclose(back, value, rel_tol=1e-9, abs_tol=1e-9)


@given(
    triple=_same_dimension_pair().flatmap(
        lambda ab: st.sampled_from(
            [
                c
                for c, i in default_mappings().units.items()
                if i.dimension == default_mappings().dimension(ab[0])
            ]
        ).map(lambda c: (ab[0], ab[1], c))
    ),
    value=finite,
)
def test_conversion_is_transitive(triple: tuple[str, str, str], value: float) -> None:
    mappings = default_mappings()
    a, b, c = triple
    direct = mappings.convert(value, a, c)
    via = mappings.convert(mappings.convert(value, a, b), b, c)
    assert math.isclose(via, direct, rel_tol=1e-9, abs_tol=1e-6)


# --- canonical -------------------------------------------------------------------------------


def test_canonical_converts_to_the_property_unit(mappings: MappingSet) -> None:
    cases = [
        (("co", 1320.0, "ug/m3"), (1.32, "mg/m3")),
        (("mercury", 2.4, "ug/L"), (0.0024, "mg/L")),
        (("pm2_5", 38.0, "µg/m³"), (38.0, "ug/m3")),
        (("air_pressure", 981.2, "hPa"), (98.12, "kPa")),
    ]
    for (key, value, unit), (expected, canonical_unit) in cases:
        converted, target = mappings.canonical(key, value, unit)
        assert target == canonical_unit
        assert converted == pytest.approx(expected, rel=1e-12)


def test_canonical_keeps_undefined_keys_in_their_own_unit(mappings: MappingSet) -> None:
    assert mappings.canonical("hj212:w99999", 3.5, "µg/L") == (3.5, "ug/L")
    with pytest.raises(UnitError):
        mappings.canonical("hj212:w99999", 3.5, "bogus")


def test_canonical_refuses_a_unit_of_the_wrong_dimension(mappings: MappingSet) -> None:
    with pytest.raises(UnitError, match=r"^pm2_5: cannot convert"):
        mappings.canonical("pm2_5", 38.0, "Cel")
    # A failed plan is not cached as a success.
    with pytest.raises(UnitError):
        mappings.canonical("pm2_5", 38.0, "Cel")


def test_canonical_is_fast(mappings: MappingSet) -> None:
    started = time.perf_counter()
    for i in range(20_000):
        mappings.canonical("co", float(i), "ug/m3")
    assert time.perf_counter() - started < 1.0  # about 10 ms in practice


# --- the pilot registry's units ----------------------------------------------------------------


def test_pilot_units_normalise_and_convert_to_their_property(mappings: MappingSet) -> None:
    document = json.loads(PILOT_REGISTRY.read_text(encoding="utf-8"))
    checked = 0
    for station in document["stations"]:
        for code, factor in station.get("factors", {}).items():
            assert code in PILOT_FACTORS, f"add {code} to PILOT_FACTORS"
            key = PILOT_FACTORS[code]
            prop = mappings.observed_property(key)
            assert prop is not None
            unit = mappings.normalise_unit(factor["unit"])
            value, canonical_unit = mappings.canonical(key, 1.0, unit)
            assert canonical_unit == prop.unit
            assert math.isfinite(value)
            checked += 1
    assert checked > 60


# --- loading and versioning --------------------------------------------------------------------


def _copy_tables(tmp_path: Path) -> Path:
    for name in ("observed-properties.v1.json", "units.v1.json"):
        shutil.copy(DEFAULT_DIRECTORY / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, change: dict[str, Any]) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    document.update(change)
    path.write_text(json.dumps(document), encoding="utf-8")


def test_load_takes_the_newest_version_unless_told(tmp_path: Path) -> None:
    root = _copy_tables(tmp_path)
    v2 = root / "units.v2.json"
    shutil.copy(root / "units.v1.json", v2)
    _edit(v2, {"version": "2"})
    assert MappingSet.load(root).version == "observed-properties.v1+units.v2"
    assert MappingSet.load(root, units_version=1).version == "observed-properties.v1+units.v1"
    with pytest.raises(FileNotFoundError):
        MappingSet.load(root, properties_version=7)


def test_version_field_must_match_file_name(tmp_path: Path) -> None:
    root = _copy_tables(tmp_path)
    _edit(root / "units.v1.json", {"version": "2"})
    with pytest.raises(ValueError, match='must be "1"'):
        MappingSet.load(root)


def test_missing_tables_are_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="observed-properties"):
        MappingSet.load(tmp_path)


def test_tables_are_checked_against_each_other() -> None:
    properties = json.loads((DEFAULT_DIRECTORY / "observed-properties.v1.json").read_text("utf-8"))
    units = json.loads((DEFAULT_DIRECTORY / "units.v1.json").read_text("utf-8"))
    broken = json.loads(json.dumps(properties))
    broken["properties"]["pm2_5"]["unit"] = "µg/m³"  # an alias, not a UCUM code
    with pytest.raises(ValueError, match="pm2_5"):
        MappingSet(broken, units)
    bad_alias = {**units, "aliases": {**units["aliases"], "weird": "no-such-unit"}}
    with pytest.raises(ValueError, match="weird"):
        MappingSet(properties, bad_alias)
