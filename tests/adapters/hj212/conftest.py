"""Shared fixtures for the HJ 212 adapter tests: the shared fixture files and a device registry."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.base import (
    ChannelContext,
    Decoded,
    DeviceProfile,
    Rejection,
    RejectionCode,
    hash_secret,
)
from adapters.hj212.lihe import LiheHJ212Adapter
from adapters.hj212.packet import Packet, build_frame, parse_data_segment

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"


def fixture_path(*parts: str) -> Path:
    """A shared fixture file; skipped locally when the shared tree is absent, never in CI."""
    if not FIXTURES.is_dir() and os.environ.get("CI") != "true":
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return FIXTURES.joinpath(*parts)


class RegistryDirectory:
    """A read-only DeviceDirectory over a fixed set of profiles."""

    def __init__(self, profiles: Iterable[tuple[str, DeviceProfile]]) -> None:
        self._profiles = {(source, profile.device_id): profile for source, profile in profiles}

    def device(self, source: str, device_id: str) -> DeviceProfile | None:
        return self._profiles.get((source, device_id))


@pytest.fixture(scope="session")
def pilot() -> dict[str, object]:
    """The pilot registry document (astana-pilot.json)."""
    data: dict[str, object] = json.loads(fixture_path("astana-pilot.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="session")
def directory(pilot: dict[str, object]) -> RegistryDirectory:
    """Registry of the pilot's Lihe loggers, secrets hashed once per session (scrypt is slow)."""
    stations = pilot["stations"]
    assert isinstance(stations, list)
    profiles = []
    for station in stations:
        if station.get("source") != "lihe-hj212":
            continue
        profile = DeviceProfile(
            station=station["id"],
            device_id=station["mn"],
            system_code=station["st"],
            kind=station["kind"],
            timezone=station["logger_timezone"],
            secret_hash=hash_secret(station["pw"]),
            units={code: factor["unit"] for code, factor in station["factors"].items()},
        )
        profiles.append(("lihe-hj212", profile))
    return RegistryDirectory(profiles)


@pytest.fixture
def adapter() -> LiheHJ212Adapter:
    """A fresh adapter (its reassembler state is per instance)."""
    return LiheHJ212Adapter()


def context(received_at: datetime | None = None) -> ChannelContext:
    """A channel context; by default received just after the pilot day."""
    when = received_at or datetime(2025, 1, 16, 0, 0, tzinfo=UTC)
    return ChannelContext(channel="hj212-tcp", peer="192.0.2.10:50000", received_at=when)


# --- Frames from the pilot loggers, and checks on what the adapter returns ---------------------

SARYARKA = "4C4948453030323230303031"  # Asia/Almaty, PW A7k2p9
NORTH = "4C4948453030323230303033"  # Asia/Shanghai, PW Z9t4c6
EFFLUENT = "4C4948453030333230303031"  # Asia/Almaty, PW K4j9l3
PASSWORDS = {SARYARKA: "A7k2p9", NORTH: "Z9t4c6", EFFLUENT: "K4j9l3"}
RECEIVED = datetime(2025, 6, 15, 6, 0, tzinfo=UTC)  # after every synthetic DataTime below


def frame(
    cp: str,
    *,
    mn: str = SARYARKA,
    cn: str = "2011",
    flag: int | None = 5,
    qn: str | None = "20250615103000123",
    pw: str | None = None,
    st: str = "22",
    split: tuple[int, int] | None = None,
) -> bytes:
    """A frame from a registered logger (its registry password unless ``pw`` is given)."""
    fields = [f"QN={qn}"] if qn is not None else []
    fields += [f"ST={st}", f"CN={cn}", f"PW={pw if pw is not None else PASSWORDS[mn]}", f"MN={mn}"]
    if flag is not None:
        fields.append(f"Flag={flag}")
    if split is not None:
        fields += [f"PNUM={split[0]}", f"PNO={split[1]}"]
    return build_frame(";".join(fields) + f";CP=&&{cp}&&")


def decode(
    adapter: LiheHJ212Adapter,
    raw: bytes,
    directory: RegistryDirectory,
    received_at: datetime = RECEIVED,
) -> Decoded | Rejection:
    return adapter.decode(raw, context(received_at), directory)


def decoded(result: Decoded | Rejection) -> Decoded:
    assert isinstance(result, Decoded), result
    return result


def rejected(result: Decoded | Rejection, code: RejectionCode) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.code is code, result
    assert "\n" not in result.reason
    return result


def reply_packet(raw: bytes | None) -> Packet:
    """The data segment of a reply frame the adapter produced."""
    assert raw is not None
    return parse_data_segment(raw[6:-6])


def reply_of(raw: bytes | None) -> tuple[str | None, dict[str, str]]:
    packet = reply_packet(raw)
    return packet.cn, packet.cp


def with_profile(directory: RegistryDirectory, mn: str, **changes: object) -> RegistryDirectory:
    """The pilot directory with one device's profile changed (reusing its secret hash)."""
    profile = directory.device("lihe-hj212", mn)
    assert profile is not None
    return RegistryDirectory([("lihe-hj212", profile.model_copy(update=changes))])
