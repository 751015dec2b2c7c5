"""The station registry: the shipped pilot parses, secrets stay hashed, bad input fails clearly."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.base import DeviceDirectory, hash_secret
from hub.demo import PILOT_REGISTRY
from hub.model import (
    RegistryError,
    StationDirectory,
    StationRecord,
    load_registry,
    parse_registry,
)

PILOT: dict[str, Any] = json.loads(PILOT_REGISTRY.read_text(encoding="utf-8"))
PASSWORDS = {s["id"]: s["pw"] for s in PILOT["stations"] if "pw" in s}


@pytest.fixture(scope="module")
def stations() -> list[StationRecord]:
    # scrypt costs ~50 ms per password: parse the pilot once for the whole module.
    return load_registry(PILOT_REGISTRY)


@pytest.fixture(scope="module")
def a_hash() -> str:
    return hash_secret("Zz9yy8")


# --- the shipped demo registry -----------------------------------------------------------------


def test_demo_copy_matches_the_shared_fixture(shared_fixtures: Path) -> None:
    assert PILOT_REGISTRY.read_bytes() == (shared_fixtures / "astana-pilot.json").read_bytes()


def test_pilot_has_eight_loggers_and_ten_posts(stations: list[StationRecord]) -> None:
    assert len(stations) == 18
    lihe = [s for s in stations if s.source == "lihe-hj212"]
    posts = [s for s in stations if s.source == "kazhydromet"]
    assert len(lihe) == 8 and len(posts) == 10
    assert all(s.device_profile() is not None for s in lihe)
    assert all(s.device_profile() is None for s in posts)
    assert {s.kind for s in lihe} == {"air", "water", "effluent"}
    assert [s.post_id for s in posts] == [f"AST-{n:02d}" for n in range(2, 12)]
    assert sum(1 for s in posts if s.automatic) == 6


def test_timezones(stations: list[StationRecord]) -> None:
    shanghai = [s.id for s in stations if s.logger_timezone == "Asia/Shanghai"]
    assert shanghai == ["lihe-air-industrial-north"]
    assert all(s.logger_timezone == "Asia/Almaty" for s in stations if s.id not in shanghai)


def test_no_clear_password_anywhere(stations: list[StationRecord]) -> None:
    assert len(PASSWORDS) == 8
    for station in stations:
        profile = station.device_profile()
        texts = [station.model_dump_json(), repr(station), str(station), repr(station.__dict__)]
        if profile is not None:
            texts += [profile.model_dump_json(), repr(profile)]
        for text in texts:
            for password in PASSWORDS.values():
                assert password not in text, station.id
        assert "pw" not in station.properties


def test_hash_is_kept_out_of_repr(stations: list[StationRecord]) -> None:
    station = stations[0]
    assert station.secret_hash is not None and station.secret_hash.startswith("scrypt$")
    assert station.secret_hash not in repr(station)
    assert station.secret_hash not in str(station)
    assert "secret_hash" not in repr(station)


def test_secret_verifies_against_the_hash(stations: list[StationRecord]) -> None:
    profiles = [p for p in (s.device_profile() for s in stations) if p is not None]
    for profile in profiles:
        assert profile.verify_secret(PASSWORDS[profile.station])
    # Each check is a ~50 ms scrypt run: wrong secrets are tried on one station only.
    assert not profiles[0].verify_secret(PASSWORDS[profiles[0].station] + "x")
    assert not profiles[0].verify_secret(PASSWORDS[profiles[1].station])


def test_device_profile_carries_registry_facts(stations: list[StationRecord]) -> None:
    by_id = {s.id: s for s in stations}
    profile = by_id["lihe-air-industrial-north"].device_profile()
    assert profile is not None
    assert profile.station == "lihe-air-industrial-north"
    assert profile.device_id == "4C4948453030323230303033"
    assert profile.system_code == "22"
    assert profile.kind == "air"
    assert profile.timezone == "Asia/Shanghai"
    assert profile.units["a34004"] == "ug/m3"
    assert profile.units["a21005"] == "mg/m3"
    assert profile.units["a01008"] == "deg"
    effluent = by_id["lihe-effluent-tazalyk"].device_profile()
    assert effluent is not None and effluent.units["w00000"] == "L/s"


def test_names(stations: list[StationRecord]) -> None:
    by_id = {s.id: s for s in stations}
    saryarka = by_id["lihe-air-saryarka"].name
    assert saryarka.en == "Saryarka district air station"
    assert saryarka.kk is not None and saryarka.ru is not None
    post = by_id["kazhydromet-ast-02"].name
    # Kazhydromet posts are named in Russian only: en falls back to it.
    assert post.ru is not None and post.en == post.ru and post.kk is None


def test_directory_finds_devices_and_stations(stations: list[StationRecord]) -> None:
    directory = StationDirectory(stations)
    assert isinstance(directory, DeviceDirectory)
    assert len(directory) == 18
    profile = directory.device("lihe-hj212", "4C4948453030323130303031")
    assert profile is not None and profile.station == "lihe-water-yesil-upstream"
    assert directory.device("kazhydromet", "4C4948453030323130303031") is None
    assert directory.device("lihe-hj212", "nope") is None
    station = directory.station("kazhydromet-ast-06")
    assert station is not None and station.automatic is True


def test_records_are_frozen_and_hashable(stations: list[StationRecord]) -> None:
    with pytest.raises(ValidationError):
        stations[0].lat = 0.0
    assert len(set(stations)) == 18


# --- other accepted inputs (cheap: pw_hash avoids scrypt) -------------------------------------


def _logger(**changes: Any) -> dict[str, Any]:
    station: dict[str, Any] = {
        "id": "test-logger",
        "source": "lihe-hj212",
        "kind": "effluent",
        "mn": "MN0001",
        "st": "32",
        "name": "Test outfall",
        "lat": 51.2,
        "lon": 71.4,
        "operator": "Test",
        "factors": {"w00000": {"name": "flow", "unit": "L/s", "cou_unit": "m³"}},
    }
    station.update(changes)
    return {k: v for k, v in station.items() if v is not None}


def _post(**changes: Any) -> dict[str, Any]:
    station: dict[str, Any] = copy.deepcopy(PILOT["stations"][8])
    station.update(changes)
    return station


def test_pw_hash_options_cou_unit_and_extra_keys(a_hash: str) -> None:
    document = {
        "city": "Astana",
        "crs": "EPSG:4326",
        "new_top_level": True,
        "stations": [
            _logger(
                pw_hash=a_hash,
                options={"crc": "modbus-fallback", "minute_interval": 10, "strict": False},
                crs_note="surveyed with GNSS",
            )
        ],
    }
    (station,) = parse_registry(document)
    assert station.name.en == "Test outfall" and station.name.ru is None
    assert station.options == {"crc": "modbus-fallback", "minute_interval": "10", "strict": "false"}
    assert station.properties == {"crs_note": "surveyed with GNSS"}
    profile = station.device_profile()
    assert profile is not None
    assert profile.units == {"w00000": "L/s", "w00000-Cou": "m3"}
    assert profile.options["crc"] == "modbus-fallback"
    assert profile.verify_secret("Zz9yy8")


def test_the_caller_document_is_not_modified(a_hash: str) -> None:
    document = {"stations": [_logger(pw_hash=a_hash), _post()]}
    before = copy.deepcopy(document)
    parse_registry(document)
    assert document == before


# --- bad input ---------------------------------------------------------------------------------


def _expect_error(document: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(RegistryError) as caught:
        parse_registry(document)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    for password in [*PASSWORDS.values(), "Zz9yy8", "hunter2"]:
        assert password not in message
    return message


def test_bad_lat() -> None:
    message = _expect_error({"stations": [_post(id="bad-lat", lat=91)]})
    assert message == "station 'bad-lat': lat 91 is outside -90..90"


def test_bad_lon() -> None:
    _expect_error({"stations": [_post(id="bad-lon", lon=-180.5)]}, "'bad-lon'", "lon -180.5")


def test_duplicate_mn(a_hash: str) -> None:
    first = _logger(id="first", pw_hash=a_hash)
    second = _logger(id="second", pw_hash=a_hash)
    _expect_error({"stations": [first, second]}, "station 'second'", "mn 'MN0001'", "'first'")


def test_duplicate_id() -> None:
    _expect_error({"stations": [_post(), _post(post_id="AST-99")]}, "'kazhydromet-ast-02'", "id")


def test_duplicate_post_id() -> None:
    _expect_error({"stations": [_post(), _post(id="other")]}, "station 'other'", "post_id")


def test_bad_timezone(a_hash: str) -> None:
    station = _logger(pw_hash=a_hash, logger_timezone="Asia/Astana-ish")
    _expect_error({"stations": [station]}, "'test-logger'", "logger_timezone 'Asia/Astana-ish'")


def test_mn_without_pw() -> None:
    _expect_error({"stations": [_logger()]}, "station 'test-logger'", "mn", "pw")


def test_unknown_unit(a_hash: str) -> None:
    factors = {"w01018": {"name": "COD", "unit": "mg per litre"}}
    station = _logger(pw_hash=a_hash, factors=factors)
    _expect_error({"stations": [station]}, "'test-logger'", "factors.w01018.unit", "unknown unit")


def test_ambiguous_unit(a_hash: str) -> None:
    factors = {"a01008": {"name": "wind direction", "unit": "degree"}}
    station = _logger(pw_hash=a_hash, factors=factors)
    _expect_error({"stations": [station]}, "factors.a01008.unit", "ambiguous")


def test_bad_id_pattern() -> None:
    _expect_error({"stations": [_post(id="Bad Id")]}, "station 'Bad Id'", "id must be")


def test_missing_field() -> None:
    station = _post()
    del station["operator"]
    _expect_error({"stations": [station]}, "'kazhydromet-ast-02'", "operator is missing")


def test_missing_id_names_the_position() -> None:
    station = _post()
    del station["id"]
    _expect_error({"stations": [_post(id="fine", post_id="X"), station]}, "station #2", "id")


def test_no_name_at_all() -> None:
    _expect_error({"stations": [_post(name={"en": " "})]}, "name needs")


def test_pw_and_pw_hash_together(a_hash: str) -> None:
    station = _logger(pw="hunter2", pw_hash=a_hash)
    _expect_error({"stations": [station]}, "pw and pw_hash")


def test_empty_or_non_text_pw() -> None:
    _expect_error({"stations": [_logger(pw="")]}, "pw must be non-empty text")
    _expect_error({"stations": [_logger(pw=123456)]}, "pw must be non-empty text")


def test_malformed_pw_hash_is_not_echoed() -> None:
    message = _expect_error({"stations": [_logger(pw_hash="hunter2")]}, "pw_hash is not")
    assert "hunter2" not in message


def test_secret_under_another_name_is_refused() -> None:
    station = _post(password="hunter2")
    _expect_error({"stations": [station]}, "'password' looks like a secret")


def test_stations_must_be_a_list() -> None:
    _expect_error({"city": "Astana"}, "'stations' must be a list")
    _expect_error({"stations": ["not an object"]}, "station #1", "expected an object")


def test_several_problems_are_counted_on_one_line() -> None:
    _expect_error({"stations": [_post(lat=91, lon=200)]}, "lat 91", "(and 1 more problem)")


def test_bad_json_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text('{"stations": [', encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid JSON"):
        load_registry(path)
