"""Units of the quantities in needs and offers, on one pint registry with the local units added."""

import functools
from decimal import Decimal
from typing import Any

import pint

__all__ = ["InvalidUnit", "base_factor", "canonical_unit", "convert", "registry"]

registry: pint.UnitRegistry[Any] = pint.UnitRegistry()
registry.define("jin = 0.5 * kilogram = 斤")
registry.define("person = [person] = 人 = 人次")
registry.define("seat = person = 座位 = 个座位")  # a seat is a place for one person
registry.define("yuan = [currency] = 元 = CNY")
registry.define("wan_yuan = 10000 * yuan = 万元")
registry.define("piece = [piece] = 件 = 箱")


class InvalidUnit(ValueError):
    """A unit the registry does not know."""


def canonical_unit(unit: str) -> str:
    """The registry's name for ``unit`` (``"斤"`` → ``"jin"``, ``"t"`` → ``"metric_ton"``)."""
    try:
        parsed = registry.parse_units(unit.strip())
    except Exception as exc:  # pint's parser raises several unrelated types on garbage
        raise InvalidUnit(f"unknown unit {unit!r}") from exc
    if parsed.dimensionless:
        raise InvalidUnit(f"{unit!r} is not a unit of anything")
    return str(parsed)


@functools.cache
def base_factor(unit: str) -> tuple[float, str]:
    """How many base units one ``unit`` is, and the dimension: ``"t"`` → ``(1000.0, "[mass]")``."""
    quantity = registry.Quantity(1, unit).to_base_units()
    return float(quantity.magnitude), str(quantity.dimensionality)


def convert(quantity: Decimal, unit: str, to_unit: str) -> Decimal:
    """Convert ``quantity`` from ``unit`` into ``to_unit``; raises if the dimensions differ."""
    converted = registry.Quantity(quantity, unit).to(to_unit).magnitude
    return Decimal(str(converted))
