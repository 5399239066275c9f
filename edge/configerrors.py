"""One way to report invalid input: where it is (file and line of a TOML text), the key, what is wrong
and what to do.

Used for every validated input of the project: the lane config, the limits table, simulator scenarios,
captures, downlink documents and central query requests.  A leaf module (stdlib and pydantic only), so
``edge.config`` and ``firmware_sim`` may import it without importing anything else of ``edge``.

A problem reads ``source:line: key.path[2].name: message, got 'x'; fix``: the source and line when known
(a TOML text), the key path as the document writes it, pydantic's message, the value sent when the caller
allows it (never for requests that may carry a token), and a fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

__all__ = ["DEFAULT_FIXES", "Loc", "find_line", "format_errors", "key_path"]

Loc = tuple[int | str, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)

#: Fixes for error types whose remedy is the same in any TOML or JSON document.
DEFAULT_FIXES: Mapping[str, str] = {
    "missing": "add this key",
    "extra_forbidden": "remove it or correct its spelling",
    "int_type": "write a whole number without quotes or decimal point, e.g. 3",
    "float_type": "write a number without quotes, e.g. 1.05",
    "bool_type": "write true or false without quotes",
    "string_type": 'write text in double quotes, e.g. "rigid"',
    "tuple_type": "write a list in square brackets, e.g. [6.0, 6.0]",
    "dict_type": "write a table",
    "model_type": "write a table",
}


def _split_dotted(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in text.split(".")]


def find_line(text: str, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the TOML ``text`` that writes ``loc`` (a pydantic error location), or the line
    of the nearest enclosing table or key when the key itself is not written (a missing key is reported
    where it has to be added); None when nothing matches.

    ``[[truck]]`` tables count from 0 (``("truck", 2, "speed_kmh")`` is a key of the third one), and
    ``[truck.dynamics]`` below a ``[[truck]]`` belongs to that truck.  Values spanning several lines and
    inline tables are located at their key.
    """
    wanted = [str(part) for part in loc]
    arrays: dict[tuple[str, ...], int] = {}  # array-of-tables path -> index of its latest table

    def expand(names: Sequence[str]) -> list[str]:
        path: list[str] = []
        for name in names:
            path.append(name)
            index = arrays.get(tuple(path))
            if index is not None:
                path.append(str(index))
        return path

    table: list[str] = []
    best_line: int | None = None
    best_len = 0
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            names = _split_dotted(header.group(2))
            if header.group(1) == "[[":
                parent = expand(names[:-1])
                key = (*parent, names[-1])
                arrays[key] = arrays.get(key, -1) + 1
                table = [*key, str(arrays[key])]
            else:
                table = expand(names)
            path = table
        else:
            match = _KEY.match(line)
            if not match:
                continue
            path = [*table, *_split_dotted(match.group(1))]
        if path == wanted:
            return number
        if len(path) > best_len and wanted[: len(path)] == path:
            best_len, best_line = len(path), number
    return best_line


def key_path(loc: Sequence[int | str]) -> str:
    """``("truck", 2, "axle_spacings_m", 0)`` -> ``truck[2].axle_spacings_m[0]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_errors(
    exc: ValidationError,
    *,
    source: str = "",
    text: str | None = None,
    fixes: Mapping[str, str] | Callable[[ErrorDetails, Loc], str | None] = DEFAULT_FIXES,
    relocate: Callable[[Loc], Loc] | None = None,
    describe_loc: Callable[[Loc], str] = key_path,
    show_input: bool = True,
) -> list[str]:
    """One line per problem of ``exc``, in the order they appear in ``text`` when it is given.

    ``source``: the file (or "meta.json", or nothing) the lines start with; ``text``: the TOML text, to
    add the line; ``fixes``: error type -> what to do (merged over :data:`DEFAULT_FIXES`), or a function
    of the error and its (relocated) location that returns it; ``relocate``: maps pydantic's location to
    the document's (e.g. drops a discriminated union's tag); ``describe_loc``: how the key is named;
    ``show_input``: add the value that was sent (off for input that may hold a secret).
    """
    located: list[tuple[int, str]] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        if relocate is not None:
            loc = relocate(loc)
        line = find_line(text, loc) if text is not None else None
        kind = error["type"]
        if kind == "missing":
            message = "required key is missing"
        elif kind == "extra_forbidden":
            message = "unknown key"
        else:
            message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            if show_input and isinstance(error["input"], str | int | float):
                message += f", got {_short(error['input'])}"
        fix = fixes(error, loc) if callable(fixes) else {**DEFAULT_FIXES, **fixes}.get(kind)
        where = f"{source}:{line}" if source and line is not None else source
        parts = [part for part in (where, describe_loc(loc) if loc else "") if part]
        located.append((line or 0, ": ".join([*parts, message]) + (f"; {fix}" if fix else "")))
    if text is not None:
        located.sort(key=lambda item: item[0])
    return [problem for _, problem in located]
