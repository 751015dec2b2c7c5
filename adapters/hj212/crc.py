"""CRC-16 checksums used on HJ 212 links.

``hj212_crc`` is the variant printed in HJ 212-2017 Appendix A (hj212.md §1.7): register 0xFFFF,
``reg = (reg >> 8) ^ byte``, then eight right shifts with polynomial 0xA001. ``modbus_crc`` is
plain CRC-16/MODBUS, which a few field loggers send instead; it is only accepted for devices that
opt in.

Both are affine over GF(2) in the data bits. For the HJ 212 variant this makes a fast pure-Python
implementation possible: after the first byte the register is ``T[x]`` for an 8-bit ``x``, so the
state carried from byte to byte is the high byte ``TH[x] = T[x] >> 8``, a linear map ``A`` on
GF(2)^8 whose order is exactly 8 (``A^8 = I``). A byte ``e`` positions before the end therefore
contributes ``T[A^e(byte)]``, which depends only on ``e mod 8``. XOR-folding the data into eight
bytes aligned at its end (a handful of big-int operations that run in C) and eight table lookups
give the CRC, about 3-4x faster than a byte-at-a-time table loop.
"""

from __future__ import annotations

__all__ = ["hj212_crc", "modbus_crc"]

_POLY = 0xA001


def _reflected_table() -> tuple[int, ...]:
    """The classic reflected CRC-16 table: eight shift/XOR rounds applied to each byte."""
    table = []
    for index in range(256):
        reg = index
        for _ in range(8):
            reg = (reg >> 1) ^ _POLY if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


_TABLE = _reflected_table()
_HIGH = tuple(value >> 8 for value in _TABLE)


def _power(value: int, exponent: int) -> int:
    """Apply the byte-state map ``A`` (``x -> TH[x]``) ``exponent`` times."""
    for _ in range(exponent):
        value = _HIGH[value]
    return value


# The period of the byte-state map; checked at import so a wrong table can never ship silently.
_PERIOD = 8
if any(_power(value, _PERIOD) != value for value in range(256)):  # pragma: no cover
    raise RuntimeError("HJ 212 CRC byte-state map does not have period 8")

# _BY_DISTANCE[e][b]: contribution of byte b found e (mod 8) positions before the last byte.
_BY_DISTANCE = tuple(
    tuple(_TABLE[_power(byte, distance)] for byte in range(256)) for distance in range(_PERIOD)
)
# Contribution of the 0xFF initial register, by (len(data) - 1) mod 8.
_INITIAL = tuple(_TABLE[_power(0xFF, steps)] for steps in range(_PERIOD))
# Low-half masks for the fold, indexed by the half width in 64-bit words (frames need <= 64).
_LOW_MASKS = tuple((1 << (64 * words)) - 1 for words in range(65))


def hj212_crc(data: bytes) -> int:
    """The HJ 212-2017 CRC-16 of ``data`` (the frame's data segment); format it with ``%04X``."""
    length = len(data)
    if length == 0:
        return 0xFFFF
    # Big-endian: the last byte lands in bits 0-7, so bit 8*e..8*e+7 holds distance e.
    folded = int.from_bytes(data, "big")
    words = (length + 7) >> 3
    while words > 1:
        half = words >> 1
        shift = half << 6
        mask = _LOW_MASKS[half] if half < len(_LOW_MASKS) else (1 << shift) - 1
        folded = (folded >> shift) ^ (folded & mask)
        words -= half
    d0, d1, d2, d3, d4, d5, d6, d7 = _BY_DISTANCE
    return (
        _INITIAL[(length - 1) & 7]
        ^ d0[folded & 0xFF]
        ^ d1[(folded >> 8) & 0xFF]
        ^ d2[(folded >> 16) & 0xFF]
        ^ d3[(folded >> 24) & 0xFF]
        ^ d4[(folded >> 32) & 0xFF]
        ^ d5[(folded >> 40) & 0xFF]
        ^ d6[(folded >> 48) & 0xFF]
        ^ d7[folded >> 56]
    )


def modbus_crc(data: bytes) -> int:
    """Plain CRC-16/MODBUS of ``data`` (the opt-in fallback for deviating loggers)."""
    table = _TABLE
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ table[(reg ^ byte) & 0xFF]
    return reg
