"""The units of shaping words, as tc(8) reads them: rates in bits per second (SI: 1kbit is
1000 bit/s; `bps` suffixes count bytes), sizes in bytes (1k is 1024), times (s, ms, us),
percentages.  Each check turns a word into one integer (or float) unit the ops carry, and
each `show_` writes it back the way tc prints and reads it, for `export sh` and the listings."""

from __future__ import annotations

import re

_NUM = re.compile(r"(\d+(?:\.\d+)?)([a-z%]*)\Z")
_RATE = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
         "bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9}
_SIZE = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}
_TIME = {"s": 1e6, "sec": 1e6, "ms": 1e3, "msec": 1e3, "us": 1, "usec": 1}
MAX_RATE = 32 * 10**9  # 32gbit: what a 32-bit tbf rate (bytes per second) holds


def _split(word: str, what: str, example: str) -> tuple[float, str]:
    m = _NUM.match(word.lower())
    if m is None:
        raise ValueError(f"expected {what} like {example}, got {word!r}")
    return float(m.group(1)), m.group(2)


def check_rate(word: str) -> int:
    """`10mbit` -> 10000000 (bits per second): tc's words (a bare number is bits, `bps` counts
    bytes), and iperf3's `10M`, `500k`, `1g` (SI bits) for the same thing."""
    n, unit = _split(word, "a rate", "10mbit, 512kbit or 1gbit")
    unit = {"": "bit", "k": "kbit", "m": "mbit", "g": "gbit"}.get(unit, unit)
    if unit not in _RATE:
        raise ValueError(f"expected a rate with a unit (bit, kbit, mbit, gbit; kbps is bytes) like 10mbit, got {word!r}")
    bits = round(n * _RATE[unit])
    if not 8 <= bits <= MAX_RATE:
        raise ValueError(f"expected a rate from 8bit to 32gbit, got {word!r}")
    return bits


def check_size(word: str) -> int:
    """`32k` -> 32768 (bytes)."""
    n, unit = _split(word, "a size", "32k or 15000")
    if unit not in _SIZE:
        raise ValueError(f"expected a size in bytes (b, k, m; 1k is 1024) like 32k, got {word!r}")
    size = round(n * _SIZE[unit])
    if not 1 <= size <= 2**31:
        raise ValueError(f"expected a size from 1 byte to 2g, got {word!r}")
    return size


def check_time(word: str) -> int:
    """`10ms` -> 10000 (microseconds); a bare number is microseconds, as tc reads it."""
    n, unit = _split(word, "a time", "10ms, 1.5ms or 200us")
    if unit not in _TIME and unit != "":
        raise ValueError(f"expected a time with a unit (s, ms, us) like 10ms, got {word!r}")
    us = round(n * _TIME.get(unit, 1))
    if not 0 <= us <= 60 * 10**6:
        raise ValueError(f"expected a time up to 60s, got {word!r}")
    return us


def check_percent(word: str) -> float:
    """`1%` or `0.5%` -> 1.0, 0.5."""
    n, unit = _split(word, "a percentage", "1% or 0.5%")
    if unit not in ("%", "") or n > 100:
        raise ValueError(f"expected a percentage from 0% to 100% like 1%, got {word!r}")
    return n


def show_rate(bits: int) -> str:
    for unit, scale in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bits >= scale and bits % scale == 0:
            return f"{bits // scale}{unit}"
    return f"{bits}bit"


def show_size(size: int) -> str:
    return f"{size}b"


def show_time(us: int) -> str:
    if us and us % 1000 == 0:
        return f"{us // 1000}ms"
    return f"{us}us"


def show_percent(p: float) -> str:
    return f"{p:g}%"
