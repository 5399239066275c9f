"""Chinese licence-plate alphabet, layouts and grammar (GA 36-2018 / GA 36-2014).

One table that the renderer, the training scripts and the runtime all share, so the recogniser's output
classes, the synthetic data and the validation rules can never drift apart.

Rules encoded here (GA 36, see ../shared/DOMAIN.md section 6):

- character 1 is a province abbreviation, character 2 the issuing office's letter;
- the letters I and O are never used (they read as 1 and 0);
- ordinary plates have 5 more characters (letters or digits), at most two of them letters (GA 36-2014
  5.8.1 and table 3: every serial is digits with none, one or two letters; four-character serials alike);
- trailers end in 挂, coach-school cars in 学, police in 警, Hong Kong / Macau vehicles in 港 / 澳 (with 粤Z),
  consulates in 领, each after 4 characters;
- embassy plates carry no province: 使, a three-digit embassy number and a three-digit serial (GA 36-2014
  5.1.2, figure 2: ``使014·578``);
- new-energy plates have 6 characters after the office letter: small vehicles put D or F (electric / hybrid)
  first, large vehicles last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

__all__ = [
    "ALPHABET",
    "ALPHANUMERIC",
    "BLANK",
    "CHARSET",
    "DIGITS",
    "EMBASSY_MARK",
    "LAST_SUFFIXES",
    "LAYOUTS",
    "LAYOUT_BY_NAME",
    "LETTERS",
    "MAX_SERIAL_LETTERS",
    "PROVINCES",
    "SUFFIXES",
    "Layout",
    "PlateColor",
    "PlateType",
    "plate_type",
    "validate",
]

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # GA 36: no I, no O
DIGITS = "0123456789"
SUFFIXES = "挂学警港澳使领"
#: The one special character that comes first instead of a province (GA 36-2014 figure 2), and the ones
#: that end a plate.
EMBASSY_MARK = "使"
LAST_SUFFIXES = SUFFIXES.replace(EMBASSY_MARK, "")
ALPHANUMERIC = LETTERS + DIGITS
#: Letters a plate may carry after the office letter (GA 36-2014 5.8.1, table 3); new-energy plates' D/F count.
MAX_SERIAL_LETTERS = 2

#: Recogniser output classes: index 0 is the CTC blank, then every character a plate can carry.
BLANK = "_"
CHARSET = PROVINCES + LETTERS + DIGITS + SUFFIXES
ALPHABET = BLANK + CHARSET


class PlateColor(StrEnum):
    BLUE = "blue"
    YELLOW = "yellow"
    WHITE = "white"
    BLACK = "black"
    GREEN = "green"  # small new-energy: white-to-green gradient, black characters
    YELLOW_GREEN = "yellow_green"  # large new-energy: yellow and green, black characters


class PlateType(StrEnum):
    STANDARD = "standard"
    TRAILER = "trailer"
    COACH = "coach"
    POLICE = "police"
    HK_MACAU = "hk_macau"
    EMBASSY = "embassy"
    CONSULATE = "consulate"
    NEW_ENERGY_SMALL = "new_energy_small"
    NEW_ENERGY_LARGE = "new_energy_large"


@dataclass(frozen=True)
class Layout:
    """A physical plate layout: what the colour/type classifier predicts."""

    name: str
    color: PlateColor
    rows: int
    width_mm: int
    height_mm: int


#: Classifier classes, in output order.  Names match ../shared/plates/templates where a template exists.
LAYOUTS: tuple[Layout, ...] = (
    Layout("blue_single", PlateColor.BLUE, 1, 440, 140),
    Layout("yellow_single", PlateColor.YELLOW, 1, 440, 140),
    Layout("yellow_double", PlateColor.YELLOW, 2, 440, 220),
    Layout("white_single", PlateColor.WHITE, 1, 440, 140),
    Layout("white_double", PlateColor.WHITE, 2, 440, 220),
    Layout("black_single", PlateColor.BLACK, 1, 440, 140),
    Layout("green_small", PlateColor.GREEN, 1, 480, 140),
    Layout("green_large", PlateColor.YELLOW_GREEN, 1, 480, 140),
)
LAYOUT_BY_NAME = {layout.name: layout for layout in LAYOUTS}

_P = f"[{PROVINCES}]"
_L = f"[{LETTERS}]"
_A = f"[{ALPHANUMERIC}]"
_D = "[0-9]"

#: Text grammar per plate type (full match).
GRAMMAR: dict[PlateType, re.Pattern[str]] = {
    PlateType.STANDARD: re.compile(f"{_P}{_L}{_A}{{5}}"),
    PlateType.TRAILER: re.compile(f"{_P}{_L}{_A}{{4}}挂"),
    PlateType.COACH: re.compile(f"{_P}{_L}{_A}{{4}}学"),
    PlateType.POLICE: re.compile(f"{_P}{_L}{_A}{{4}}警"),
    PlateType.HK_MACAU: re.compile(f"粤Z{_A}{{4}}[港澳]"),
    PlateType.EMBASSY: re.compile(f"{EMBASSY_MARK}{_D}{{6}}"),  # GA 36-2014 figure 2
    PlateType.CONSULATE: re.compile(f"{_P}{_L}{_A}{{4}}领"),  # figure 1
    # Small new energy: D/F (or since 2021 another letter) then a letter or digit, then 4 digits.
    PlateType.NEW_ENERGY_SMALL: re.compile(f"{_P}{_L}[DF]{_A}{_D}{{4}}"),
    PlateType.NEW_ENERGY_LARGE: re.compile(f"{_P}{_L}{_D}{{5}}[DF]"),
}

#: Which layouts each plate type is issued on.
TYPE_LAYOUTS: dict[PlateType, tuple[str, ...]] = {
    PlateType.STANDARD: ("blue_single", "yellow_single", "yellow_double", "white_double"),
    PlateType.TRAILER: ("yellow_single", "yellow_double"),
    PlateType.COACH: ("yellow_single",),
    PlateType.POLICE: ("white_single", "white_double"),
    PlateType.HK_MACAU: ("black_single",),
    PlateType.EMBASSY: ("black_single",),
    PlateType.CONSULATE: ("black_single",),
    PlateType.NEW_ENERGY_SMALL: ("green_small",),
    PlateType.NEW_ENERGY_LARGE: ("green_large",),
}


#: Readings remembered by :func:`plate_type` and :func:`validate`: a crop's reading is checked by the
#: decoder and again by the reader, and a vehicle's frames read its plate over and over.
_REMEMBERED_READINGS = 1024


@lru_cache(maxsize=_REMEMBERED_READINGS)
def plate_type(text: str, layout: str | None = None) -> PlateType | None:
    """The plate type whose grammar ``text`` matches (preferring one issued on ``layout``), else None."""
    matches = [kind for kind, pattern in GRAMMAR.items() if pattern.fullmatch(text)]
    if layout is not None:
        on_layout = [kind for kind in matches if layout in TYPE_LAYOUTS[kind]]
        matches = on_layout or matches
    return matches[0] if matches else None


def validate(text: str, layout: str | None = None) -> list[str]:
    """Problems with ``text`` as a plate (empty when it is valid), in words a technician can act on."""
    return list(_problems(text, layout))


@lru_cache(maxsize=_REMEMBERED_READINGS)
def _problems(text: str, layout: str | None) -> tuple[str, ...]:
    problems: list[str] = []
    if not text:
        return ("no characters read",)
    if text[0] == EMBASSY_MARK:
        if not GRAMMAR[PlateType.EMBASSY].fullmatch(text):
            problems.append(
                f"an embassy plate is {EMBASSY_MARK} and six digits (GA 36-2014 figure 2, 使014·578); "
                f"read {len(text) - 1} characters after it, {sum(ch not in DIGITS for ch in text[1:])} not digits"
            )
        return tuple(problems)
    if text[0] not in PROVINCES:
        problems.append(
            f"first character {text[0]!r} is not a province abbreviation (nor the {EMBASSY_MARK} of an embassy plate)"
        )
    if len(text) > 1 and text[1] not in LETTERS:
        problems.append(f"second character {text[1]!r} is not an office letter (A-Z without I and O)")
    if any(ch in "IO" for ch in text):
        problems.append("plates never carry the letters I or O")
    if len(text) not in (7, 8):
        problems.append(f"{len(text)} characters; plates have 7 (8 for new energy)")
    serial_letters = sum(ch in LETTERS for ch in text[2:])
    if serial_letters > MAX_SERIAL_LETTERS:
        problems.append(
            f"{serial_letters} letters after the office letter; GA 36-2014 (5.8.1, table 3) allows at most "
            f"{MAX_SERIAL_LETTERS}"
        )
    if EMBASSY_MARK in text[1:]:
        problems.append(
            f"{EMBASSY_MARK} only begins a plate (embassy plates); a consulate's plate ends in 领"
        )
    if not problems and plate_type(text, layout) is None:
        problems.append("characters do not follow any GA 36 plate pattern")
    return tuple(problems)
