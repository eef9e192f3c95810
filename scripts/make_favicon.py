"""Writes static/favicon.ico from the same drawing as static/favicon.svg (a white "F" on the
accent blue, rounded corners): one 32x32 PNG inside an ICO container, standard library only.

Run from the repository root: ``python scripts/make_favicon.py``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIZE = 32
BLUE = (0x1F, 0x5F, 0xBF, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)
RADIUS = 7


def _inside_rounded(x: float, y: float) -> bool:
    cx = min(max(x, RADIUS), SIZE - RADIUS)
    cy = min(max(y, RADIUS), SIZE - RADIUS)
    return (x - cx) ** 2 + (y - cy) ** 2 <= RADIUS**2


def _in_f(x: float, y: float) -> bool:
    """The path of favicon.svg: M9 24V8h14v4h-9v3h7v4h-7v5z."""
    stem = 9 <= x < 14 and 8 <= y < 24
    top = 9 <= x < 23 and 8 <= y < 12
    bar = 9 <= x < 21 and 15 <= y < 19
    return stem or top or bar


def pixel(x: int, y: int) -> tuple[int, int, int, int]:
    px, py = x + 0.5, y + 0.5
    if not _inside_rounded(px, py):
        return CLEAR
    return WHITE if _in_f(px, py) else BLUE


def png() -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(SIZE)) for y in range(SIZE)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def ico() -> bytes:
    image = png()
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(image), 6 + 16)
    return directory + entry + image


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "static" / "favicon.ico"
    target.write_bytes(ico())
    print(f"wrote {target} ({target.stat().st_size} bytes)")
