"""Words every layer prints the same way."""

from __future__ import annotations


def count(n: int, noun: str, plural: str = "") -> str:
    """`1 namespace`, `2 namespaces`, `0 namespaces`: a count with its noun in the right number
    (PLURAL for a noun that does not take an `s`)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
