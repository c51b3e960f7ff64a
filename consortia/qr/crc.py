"""CRC-16/CCITT-FALSE, the checksum of EMVCo merchant-presented codes (ID 63).

Polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR; check value
``crc16(b"123456789") == 0x29B1``.
"""

from __future__ import annotations

POLY = 0x1021
INIT = 0xFFFF


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ POLY) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _table()


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data``."""
    crc = INIT
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ byte]
    return crc


def crc_hex(text: str) -> str:
    """The 4 upper-case hex digits EMVCo puts in ID 63: the CRC of ``text``'s UTF-8 bytes.
    ``text`` is everything before the CRC value, ending with ``"6304"``."""
    return f"{crc16(text.encode('utf-8')):04X}"


assert crc16(b"123456789") == 0x29B1
