"""Builders for the small stores the SensorThings tests query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.model.registry import StationRecord
from hub.store import FrameRecord, ObservationRow


def station_record(key: str, kind: str, name: str, **extra: Any) -> StationRecord:
    """A registry station without a device (no secret needed)."""
    return StationRecord.model_validate(
        {
            "id": key,
            "source": "lihe-hj212",
            "kind": kind,
            "name": {"en": name},
            "lat": 51.17,
            "lon": 71.42,
            "operator": "Test operator",
            **extra,
        }
    )


def observation_row(
    ds: tuple[int, int],
    start: datetime,
    value: float,
    *,
    end: datetime | None = None,
    quality: str = "valid",
    unit: str = "ug/m3",
    result_time: datetime | None = None,
) -> ObservationRow:
    """An observation of datastream ``ds`` (id, feature-of-interest id)."""
    return ObservationRow(
        datastream_id=ds[0],
        feature_of_interest_id=ds[1],
        phenomenon_time_start=start,
        phenomenon_time_end=end or start,
        result_time=result_time,
        result=value,
        result_quality=quality,
        parameters={"received": {"value": f"{value:g}", "unit": unit}},
    )


def frame_record(
    key: str, station: str, rows: list[ObservationRow], received_at: datetime
) -> FrameRecord:
    """A stored raw frame (content-addressed by ``key``) carrying ``rows``."""
    return FrameRecord(
        sha256=key * 64,
        content=key.encode(),
        adapter="lihe-hj212",
        adapter_version="0.1.0",
        channel="test",
        peer="127.0.0.1:1",
        station_key=station,
        received_at=received_at,
        outcome="stored",
        observations=rows,
    )
