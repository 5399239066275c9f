"""Find the line of a key in a TOML text, so validation errors can point a technician at it."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["find_line"]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _split_dotted(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in text.split(".")]


def find_line(text: str, loc: Sequence[str | int]) -> int | None:
    """Return the 1-based line that defines ``loc`` (a pydantic error location), or the line of the
    nearest enclosing table when the key itself is missing; None when nothing matches."""
    wanted = [str(part) for part in loc]
    array_counts: dict[tuple[str, ...], int] = {}
    table: list[str] = []
    best_line: int | None = None
    best_len = 0
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            names = _split_dotted(header.group(2))
            if header.group(1) == "[[":
                key = tuple(names)
                index = array_counts.get(key, -1) + 1
                array_counts[key] = index
                table = [*names, str(index)]
            else:
                table = names
            path = table
        else:
            match = _KEY.match(line)
            if not match:
                continue
            path = [*table, *_split_dotted(match.group(1))]
        if path == wanted:
            return number
        common = 0
        for a, b in zip(path, wanted, strict=False):
            if a != b:
                break
            common += 1
        if common == len(path) and common > best_len:
            best_len, best_line = common, number
    return best_line
