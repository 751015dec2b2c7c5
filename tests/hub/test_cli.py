"""The ``auasu`` command line, run in-process through ``hub.cli.main``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cli import main
from hub.demo import PILOT_REGISTRY
from hub.store import Store
from hub.store.schema import datastreams, observations, stations


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stations_import_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "stations", "import", str(PILOT_REGISTRY), "--data-dir", str(tmp_path)
    )
    assert code == 0 and "imported 18 stations (8 with devices)" in out
    code, out, _ = run(capsys, "stations", "list", "--data-dir", str(tmp_path))
    assert code == 0
    assert "lihe-air-industrial-north" in out and "Asia/Shanghai" in out
    assert "kazhydromet-ast-02" in out
    store = Store.open(f"sqlite:///{tmp_path / 'auasu.sqlite3'}")
    with store.connect() as conn:
        dump = json.dumps([list(map(str, r)) for r in conn.execute(select(stations)).all()])
    store.close()
    for clear in ("A7k2p9", "Q3m8x1", "Z9t4c6"):
        assert clear not in dump


def test_adapters_list_shows_the_builtin_through_entry_points(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "adapters", "list", "--json")
    assert code == 0
    listed = {a["name"]: a for a in json.loads(out)}
    assert listed["lihe-hj212"]["distribution"] == "auasu"
    assert listed["lihe-hj212"]["target"] == "adapters.hj212.lihe:LiheHJ212Adapter"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ingest", "--adapter", "lihe-hj212", "/no/such/file.hj212"], "no such file"),
        (["ingest", "--adapter", "nope", "x"], "no adapter named 'nope'"),
        (["stats", "--db", "mysql://x/y"], "unsupported database"),
        (["stats", "--db", "not a url"], "not a database URL"),
        (["stations", "import", "/no/such/registry.json"], "no such file"),
        (["simulate", "hj212", "--to", "nowhere"], "--to must be HOST:PORT"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        *argv,
        *([] if "--db" in argv or argv[0] == "simulate" else ["--data-dir", str(tmp_path)]),
    )
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("auasu: error: ")


def test_bad_registry_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(PILOT_REGISTRY.read_text())
    document["stations"][0]["lat"] = 91
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    code, _, err = run(capsys, "stations", "import", str(bad), "--data-dir", str(tmp_path))
    assert code == 2 and "lat" in err and err.count("\n") == 1
    assert "A7k2p9" not in err


def test_unreachable_database_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "stats", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert code == 1 and err.startswith("auasu: error: database:")


@pytest.mark.slow
def test_ingest_the_pilot_day_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_fixtures: Path
) -> None:
    """Acceptance: every value of all 2,304 frames; right UTC times; flags; idempotent."""
    capture = shared_fixtures / "hj212" / "pilot-2025-01-15-realtime.hj212"
    data = ["--data-dir", str(tmp_path)]
    assert run(capsys, "stations", "import", str(PILOT_REGISTRY), *data)[0] == 0
    code, out, _ = run(capsys, "ingest", "--adapter", "lihe-hj212", str(capture), "--quiet", *data)
    assert code == 0
    assert "2304 inputs: 2304 stored, 0 pending, 0 rejected; 23040 new observations" in out
    code, out, _ = run(capsys, "ingest", "--adapter", "lihe-hj212", str(capture), "--quiet", *data)
    assert "0 new observations" in out

    store = Store.open(f"sqlite:///{tmp_path / 'auasu.sqlite3'}")
    with store.connect() as conn:
        total = conn.execute(select(observations.c.id)).all()
        first_by_station = dict(
            conn.execute(
                select(
                    datastreams.c.properties["station_id"].as_string(),
                    observations.c.phenomenon_time_start,
                )
                .join(datastreams, datastreams.c.id == observations.c.datastream_id)
                .order_by(observations.c.phenomenon_time_start.desc())
            ).all()
        )
        qualities = conn.execute(
            select(observations.c.result_quality, observations.c.parameters).where(
                observations.c.result_quality != "valid"
            )
        ).all()
    stats = store.station_stats()
    store.close()
    assert len(total) == 23040
    # Both loggers' first frames are 2025-01-15 00:00 local: Almaty (UTC+5) and, for the
    # industrial-north logger, Shanghai (UTC+8, which it sends as 03:00).
    midnight_almaty = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
    assert first_by_station["lihe-air-saryarka"] == midnight_almaty
    assert first_by_station["lihe-air-industrial-north"] == midnight_almaty
    assert sorted((q, p["flag"]) for q, p in qualities) == [
        ("invalid:calibration", "C"),
        ("invalid:fault", "D"),
    ]
    lihe = [s for s in stats if s.source == "lihe-hj212"]
    assert len(lihe) == 8 and all(s.observations > 0 for s in lihe)
    assert sum(s.observations for s in lihe) == 23040

    code, out, _ = run(capsys, "stats", *data)
    assert code == 0 and "lihe-water-yesil-central" in out
