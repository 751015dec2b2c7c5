"""CRC-16 variants: the HJ 212 test vectors (hj212.md §1.7) and agreement with the bitwise text."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hj212.crc import hj212_crc, modbus_crc

APPENDIX_A = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&RtdInterval=30&&"
)
SURFACE_WATER = (  # chenqi92/alltobs-hj212 README, a real station, CRC sent as '7d00'
    b"QN=20210301111100112;ST=21;CN=2011;PW=123456;MN=ZLDSZ20210127;Flag=8;CP=&&"
    b"DataTime=20210301111100;w01001-Rtd=8.33,w01001-Flag=N;w01009-Rtd=10.15,w01009-Flag=N;"
    b"w01010-Rtd=9.7,w01010-Flag=N;w01014-Rtd=1425,w01014-Flag=N;w01003-Rtd=13.10,"
    b"w01003-Flag=N;w21011-Rtd=0,w21011-Flag=N;w21001-Rtd=3.563168,w21001-Flag=N;"
    b"w21003-Rtd=0.09055002,w21003-Flag=N;w01019-Rtd=4.102818,w01019-Flag=N;w01008-Rtd=0,"
    b"w01008-Flag=N;w23002-Rtd=0,w23002-Flag=N&&"
)
LEGACY_2005 = (  # xiaoyao9184/hj-t212-parser T212MapperTest.writeMap
    b"ST=32;CN=2011;PW=123456;MN=LD130133000015;CP=&&DataTime=20160824003817000;B01-Rtd=36.91;"
    b"011-Rtd=231.0;011-Flag=N;060-Rtd=1.803;060-Flag=N&&"
)


def reference_hj212(data: bytes) -> int:
    """HJ 212-2017 Appendix A, step by step."""
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ byte
        for _ in range(8):
            carry = reg & 1
            reg >>= 1
            if carry:
                reg ^= 0xA001
    return reg


def reference_modbus(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg ^= byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
    return reg


@pytest.mark.parametrize(
    ("data", "length", "crc"),
    [(APPENDIX_A, 101, 0x1C80), (SURFACE_WATER, 435, 0x7D00), (LEGACY_2005, 139, 0xE981)],
    ids=["appendix-a", "surface-water", "legacy-2005"],
)
def test_hj212_vectors(data: bytes, length: int, crc: int) -> None:
    assert len(data) == length
    assert hj212_crc(data) == crc


def test_modbus_differs_from_hj212_on_the_standard_example() -> None:
    assert modbus_crc(APPENDIX_A) == 0x0759  # hj212.md §1.7: what plain Modbus would give
    assert modbus_crc(b"123456789") == 0x4B37  # the CRC-16/MODBUS check value


def test_empty_data_is_the_initial_register() -> None:
    assert hj212_crc(b"") == 0xFFFF
    assert modbus_crc(b"") == 0xFFFF


@settings(max_examples=150)
@given(st.binary(max_size=1100))
def test_hj212_matches_the_bitwise_definition(data: bytes) -> None:
    assert hj212_crc(data) == reference_hj212(data)


@pytest.mark.parametrize("length", [4100, 4101, 4103, 4107, 4111, 8200])
def test_hj212_beyond_frame_sizes(length: int) -> None:
    data = random.Random(length).randbytes(length)
    assert hj212_crc(data) == reference_hj212(data)


@settings(max_examples=100)
@given(st.binary(max_size=1100))
def test_modbus_matches_the_bitwise_definition(data: bytes) -> None:
    assert modbus_crc(data) == reference_modbus(data)
