"""Units of the quantities in needs and offers, on one pint registry with the local units added."""

import functools
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import pint

__all__ = [
    "UNIT_NAMES",
    "InvalidUnit",
    "amount_text",
    "base_factor",
    "canonical_unit",
    "convert",
    "registry",
    "unit_text",
]

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


# Units by the registry's name for them (``canonical_unit``), in Chinese and English: "人",
# "person" and "persons" all read 人 / people. A unit not here is shown as its publisher wrote it.
UNIT_NAMES: dict[str, tuple[str, str]] = {
    "person": ("人", "people"),
    "seat": ("个座位", "seats"),
    "hour": ("小时", "hours"),
    "day": ("天", "days"),
    "metric_ton": ("吨", "t"),
    "kilogram": ("公斤", "kg"),
    "jin": ("斤", "jin"),
    "piece": ("件", "pieces"),
    "yuan": ("元", "yuan"),
    "wan_yuan": ("万元", "×10,000 yuan"),
    "square_meter": ("平方米", "m²"),
    "second": ("秒", "s"),
}


@functools.cache
def _named(unit: str) -> str:
    try:
        return canonical_unit(unit)
    except InvalidUnit:
        return unit


def unit_text(unit: str, lang: Literal["zh", "en"]) -> str:
    """``unit`` in ``lang``: ``"t"`` → 吨 / t, ``"人"`` → 人 / people."""
    zh, en = UNIT_NAMES.get(_named(unit), (unit, unit))
    return zh if lang == "zh" else en


def amount_text(quantity: object, unit: str, lang: Literal["zh", "en"]) -> str:
    """A quantity with its unit in ``lang``: ``30 人`` / ``30 people``."""
    try:
        number = format(Decimal(str(quantity)).normalize(), "f")
    except InvalidOperation:
        number = str(quantity)
    return f"{number} {unit_text(unit, lang)}"
