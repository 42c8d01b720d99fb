"""Administrative region codes (GB/T 2260, extended to township and village level).

A code names one node of the hierarchy province → city → county → township → village:
six digits for the first three levels (``610000``, ``610300``, ``610328``), nine for a
township and twelve for a village, as in the statistical division codes. A code *covers*
another when it is the same node or one of its ancestors.
"""

import functools
import re

__all__ = [
    "InvalidRegion",
    "county_of",
    "covers",
    "level",
    "significant_prefix",
    "validate_region",
]

_CODE = re.compile(r"^(\d{6}|\d{9}|\d{12})$")

LEVELS = ("province", "city", "county", "township", "village")


class InvalidRegion(ValueError):
    """A string that is not a region code."""


def validate_region(code: str) -> str:
    """Return ``code`` if it is a well-formed region code, else raise :class:`InvalidRegion`."""
    if not _CODE.match(code):
        raise InvalidRegion("a region code has 6 (GB/T 2260), 9 (township) or 12 (village) digits")
    if code[:2] == "00":
        raise InvalidRegion("a region code starts with a province code, not 00")
    if len(code) > 6 and code[4:6] == "00":
        raise InvalidRegion("a township or village code lies under a county, not a city")
    if len(code) == 12 and code[6:9] == "000":
        raise InvalidRegion("a village code lies under a township")
    return code


@functools.cache
def significant_prefix(code: str) -> str:
    """The significant digits: what every code under this node starts with."""
    if len(code) == 6:
        if code[2:] == "0000":
            return code[:2]
        if code[4:] == "00":
            return code[:4]
        return code
    if len(code) == 12 and code[9:] == "000":
        return code[:9]
    return code


def level(code: str) -> str:
    """The level of the hierarchy the code names: province, city, county, township or village."""
    return LEVELS[{2: 0, 4: 1, 6: 2, 9: 3, 12: 4}[len(significant_prefix(code))]]


def county_of(code: str) -> str:
    """The six-digit GB/T 2260 code of the county (or the province or city) holding ``code``."""
    return code[:6]


def covers(area: str, code: str) -> bool:
    """Whether the region ``area`` contains ``code`` (or is it)."""
    return code.startswith(significant_prefix(area))
