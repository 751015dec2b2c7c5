"""A Thing's current Locations follow its newest HistoricalLocation when HistoricalLocations
are updated or deleted (18-088 §8.2.3, §10.2; ``hub.sta.write.locations``)."""

from __future__ import annotations

from hub.store.schema import historical_locations
from tests.hub.sta.write.conftest import LOCATION, THING, Rig


def _place(rig: Rig, name: str, x: float) -> int:
    point = {"type": "Point", "coordinates": [x, 51.0]}
    return rig.create("Locations", {**LOCATION, "name": name, "location": point})


def _history(rig: Rig, thing: int, time: str, *places: int) -> int:
    body = {"time": time, "Locations": [{"@iot.id": place} for place in places]}
    return rig.create(f"Things({thing})/HistoricalLocations", body)


def _where(rig: Rig, thing: int) -> list[int]:
    return sorted(item["@iot.id"] for item in rig.get(f"Things({thing})/Locations")["value"])


def _world(rig: Rig) -> tuple[int, dict[str, int]]:
    """A Thing that was at A in 2020, at B in 2021 and is at C since 2022."""
    thing = rig.create("Things", THING)
    places = {name: _place(rig, name, x) for name, x in (("A", 71.1), ("B", 71.2), ("C", 71.3))}
    ids = {
        "2020": _history(rig, thing, "2020-01-01T00:00:00Z", places["A"]),
        "2021": _history(rig, thing, "2021-01-01T00:00:00Z", places["B"]),
        "2022": _history(rig, thing, "2022-01-01T00:00:00Z", places["C"]),
    }
    assert _where(rig, thing) == [places["C"]]
    return thing, {**places, **ids}


def test_a_history_patched_to_be_the_newest_moves_the_thing(rig: Rig) -> None:
    thing, ids = _world(rig)
    rig.send("PATCH", f"HistoricalLocations({ids['2020']})",
             {"time": "2023-01-01T00:00:00Z"}, status=200)  # fmt: skip
    assert _where(rig, thing) == [ids["A"]]
    rig.send("PUT", f"HistoricalLocations({ids['2021']})",
             {"time": "2024-01-01T00:00:00Z"}, status=200)  # fmt: skip
    assert _where(rig, thing) == [ids["B"]]
    assert rig.count(historical_locations) == 3  # following makes no new history


def test_the_newest_patched_to_be_older_hands_over_to_the_next(rig: Rig) -> None:
    thing, ids = _world(rig)
    rig.send("PATCH", f"HistoricalLocations({ids['2022']})",
             {"time": "2019-01-01T00:00:00Z"}, status=200)  # fmt: skip
    assert _where(rig, thing) == [ids["B"]]


def test_a_patch_that_changes_nothing_about_the_newest_moves_nothing(rig: Rig) -> None:
    thing, ids = _world(rig)
    rig.send("PATCH", f"HistoricalLocations({ids['2020']})",
             {"time": "2021-06-01T00:00:00Z"}, status=200)  # fmt: skip
    assert _where(rig, thing) == [ids["C"]]
    rig.send("PATCH", f"HistoricalLocations({ids['2022']})",
             {"time": "2025-01-01T00:00:00Z"}, status=200)  # fmt: skip
    assert _where(rig, thing) == [ids["C"]]


def test_of_equal_times_the_one_recorded_last_is_the_newest(rig: Rig) -> None:
    thing, ids = _world(rig)
    rig.send("PATCH", f"HistoricalLocations({ids['2021']})",
             {"time": "2022-01-01T00:00:00Z"}, status=200)  # fmt: skip
    assert _where(rig, thing) == [ids["C"]]  # 2022's was recorded after 2021's
    rig.send("PATCH", f"HistoricalLocations({ids['2022']})",
             {"time": "2021-01-01T00:00:00Z"}, status=200)  # fmt: skip
    assert _where(rig, thing) == [ids["B"]]
    _history(rig, thing, "2022-01-01T00:00:00Z", ids["A"])  # same time, recorded last
    assert _where(rig, thing) == [ids["A"]]


def test_locations_added_to_the_newest_are_where_the_thing_is(rig: Rig) -> None:
    thing, ids = _world(rig)
    rig.send("PATCH", f"HistoricalLocations({ids['2022']})",
             {"Locations": [{"@iot.id": ids["A"]}]}, status=200)  # fmt: skip
    assert _where(rig, thing) == sorted([ids["A"], ids["C"]])
    rig.send("PATCH", f"Locations({ids['B']})",
             {"HistoricalLocations": [{"@iot.id": ids["2020"]}]}, status=200)  # fmt: skip
    assert _where(rig, thing) == sorted([ids["A"], ids["C"]])  # 2020 is not the newest


def test_a_history_given_to_another_thing_moves_both(rig: Rig) -> None:
    thing, ids = _world(rig)
    other = rig.create("Things", {**THING, "name": "Other"})
    _history(rig, other, "2021-06-01T00:00:00Z", ids["A"])
    rig.send("PATCH", f"HistoricalLocations({ids['2022']})",
             {"Thing": {"@iot.id": other}}, status=200)  # fmt: skip
    assert _where(rig, thing) == [ids["B"]]
    assert _where(rig, other) == [ids["C"]]
    # The same through the Thing's navigation: the 2021 record leaves for the other Thing,
    # where it is not the newest.
    rig.send("PATCH", f"Things({other})",
             {"HistoricalLocations": [{"@iot.id": ids["2021"]}]}, status=200)  # fmt: skip
    assert _where(rig, thing) == [ids["A"]]
    assert _where(rig, other) == [ids["C"]]


def test_deleting_the_newest_goes_back_to_the_one_before(rig: Rig) -> None:
    thing, ids = _world(rig)
    rig.send("DELETE", f"HistoricalLocations({ids['2020']})", status=200)
    assert _where(rig, thing) == [ids["C"]]  # not the newest: nothing moves
    rig.send("DELETE", f"HistoricalLocations({ids['2022']})", status=200)
    assert _where(rig, thing) == [ids["B"]]
    rig.send("DELETE", f"HistoricalLocations({ids['2021']})", status=200)
    assert _where(rig, thing) == [ids["B"]]  # no history left: the Thing stays where it is
    assert rig.count(historical_locations) == 0
