"""What a need requires or prefers of an offer, and what an offer states about itself.

A need's ``attributes`` may hold the keys of :class:`Requirements`; an offer's ``attributes``
the keys of :class:`Qualities`. The coordinator enforces every ``required_*`` key as a hard
filter (an offer that does not meet it is never proposed, and the need's diagnosis says so)
and scores every ``preferred_*`` key. Prices are in yuan per one unit of the listing's own
unit and are compared after converting both to the base unit (per kg, per person, …).

Older listings carried ``grade`` (a preference) and ``max_price_per_unit`` (a ceiling) on
needs; :func:`requirements_of` reads them as ``preferred_grade`` and ``price_max``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "CERTIFICATIONS",
    "OLDER_REQUIREMENT_KEYS",
    "Code",
    "Price",
    "Qualities",
    "QualitiesOf",
    "Requirements",
    "RequirementsOf",
    "qualities_of",
    "quality_conflicts",
    "requirement_conflicts",
    "requirements_of",
    "stated",
    "without_keys",
]

Code = Annotated[str, Field(min_length=1, max_length=60)]
Price = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]

# Certifications Chinese farm produce commonly carries, with their names in both languages.
# Other codes are accepted and shown as written.
CERTIFICATIONS: dict[str, tuple[str, str]] = {
    "green-food": ("绿色食品", "green food"),
    "organic": ("有机产品", "organic"),
    "geographical-indication": ("地理标志产品", "geographical indication"),
    "pollution-free": ("无公害农产品", "pollution-free produce"),
    "gap": ("良好农业规范", "good agricultural practice (GAP)"),
    "selenium-rich": ("富硒", "selenium-rich"),
}


class Requirements(BaseModel):
    """A need's requirements (hard filters) and preferences (score terms) of an offer."""

    model_config = ConfigDict(extra="forbid")

    required_certifications: list[Code] = Field(
        default_factory=list, max_length=10, description="every one must be held by the offer"
    )
    preferred_certifications: list[Code] = Field(default_factory=list, max_length=10)
    required_grade: Code | None = Field(default=None, description="the offer's grade must equal it")
    preferred_grade: Code | None = None
    required_standards: list[Code] = Field(
        default_factory=list, max_length=10, description="standards (e.g. GB/T 40743) the offer must meet"
    )
    preferred_standards: list[Code] = Field(default_factory=list, max_length=10)
    required_packaging: Code | None = None
    preferred_packaging: Code | None = None
    price_min: Price | None = Field(default=None, description="yuan per unit of the need")
    price_max: Price | None = Field(default=None, description="yuan per unit of the need")

    @model_validator(mode="after")
    def _price_range(self) -> "Requirements":
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("price_min is above price_max")
        return self

    def attributes(self) -> dict[str, Any]:
        """The keys to store in the need's attributes (only those set)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    @classmethod
    def of(cls, attributes: Mapping[str, Any]) -> "Requirements":
        """The requirements a need's attributes state, older keys read as their new names;
        a stored value that is not valid any more is left out rather than refused."""
        found = stated(cls, attributes)
        if "preferred_grade" not in found and _text(attributes.get("grade")):
            found["preferred_grade"] = attributes["grade"]
        if "price_max" not in found and _number(attributes.get("max_price_per_unit")) is not None:
            found["price_max"] = attributes["max_price_per_unit"]
        return _tolerant(cls, found)


class Qualities(BaseModel):
    """What an offer states about itself, for needs' requirements to be checked against."""

    model_config = ConfigDict(extra="forbid")

    certifications: list[Code] = Field(default_factory=list, max_length=10)
    grade: Code | None = None
    standards: list[Code] = Field(default_factory=list, max_length=10)
    packaging: Code | None = None
    price_per_unit: Price | None = Field(default=None, description="yuan per unit of the offer")

    def attributes(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)

    @classmethod
    def of(cls, attributes: Mapping[str, Any]) -> "Qualities":
        """The qualities an offer's attributes state (invalid stored values left out)."""
        return _tolerant(cls, stated(cls, attributes))


# The keys needs carried before ``Requirements``: ``grade`` (a preference), ``max_price_per_unit``.
OLDER_REQUIREMENT_KEYS = ("grade", "max_price_per_unit")


def stated(model: type[BaseModel], attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``model`` that ``attributes`` state (empty values say nothing)."""
    return {k: v for k, v in attributes.items() if k in model.model_fields and v not in (None, "", [])}


def without_keys(model: type[BaseModel], attributes: Mapping[str, Any], *older: str) -> dict[str, Any]:
    """``attributes`` without the keys of ``model`` (nor the ``older`` ones)."""
    return {k: v for k, v in attributes.items() if k not in model.model_fields and k not in older}


_M = TypeVar("_M", Requirements, Qualities)


def _tolerant(model: type[_M], found: dict[str, Any]) -> _M:
    while found:
        try:
            return model.model_validate(found)
        except ValidationError as exc:
            # A field's error names it; a rule across fields (price_min above price_max) does not.
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]} or {"price_min", "price_max"}
            if not bad & found.keys():
                break
            found = {k: v for k, v in found.items() if k not in bad}
    return model()


@dataclass(frozen=True)
class RequirementsOf:
    """A need's requirements read from its attributes, tolerant of older keys."""

    required_certifications: frozenset[str] = frozenset()
    preferred_certifications: frozenset[str] = frozenset()
    required_grade: str | None = None
    preferred_grade: str | None = None
    required_standards: frozenset[str] = frozenset()
    preferred_standards: frozenset[str] = frozenset()
    required_packaging: str | None = None
    preferred_packaging: str | None = None
    price_min: float | None = None
    price_max: float | None = None

    @property
    def has_preferences(self) -> bool:
        return bool(
            self.preferred_certifications
            or self.preferred_grade
            or self.preferred_standards
            or self.preferred_packaging
        )


@dataclass(frozen=True)
class QualitiesOf:
    """An offer's qualities read from its attributes."""

    certifications: frozenset[str] = frozenset()
    grade: str | None = None
    standards: frozenset[str] = frozenset()
    packaging: str | None = None
    price_per_unit: float | None = None


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(v) for v in value if v not in (None, ""))
    return frozenset()


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _number(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def requirements_of(attributes: Mapping[str, Any]) -> RequirementsOf:
    """Read a need's requirements; ``grade`` and ``max_price_per_unit`` are the older keys."""
    return RequirementsOf(
        required_certifications=_strings(attributes.get("required_certifications")),
        preferred_certifications=_strings(attributes.get("preferred_certifications")),
        required_grade=_text(attributes.get("required_grade")),
        preferred_grade=_text(attributes.get("preferred_grade")) or _text(attributes.get("grade")),
        required_standards=_strings(attributes.get("required_standards")),
        preferred_standards=_strings(attributes.get("preferred_standards")),
        required_packaging=_text(attributes.get("required_packaging")),
        preferred_packaging=_text(attributes.get("preferred_packaging")),
        price_min=_number(attributes.get("price_min")),
        price_max=_number(attributes.get("price_max"))
        if attributes.get("price_max") not in (None, "")
        else _number(attributes.get("max_price_per_unit")),
    )


def qualities_of(attributes: Mapping[str, Any]) -> QualitiesOf:
    """Read an offer's qualities from its attributes."""
    return QualitiesOf(
        certifications=_strings(attributes.get("certifications")),
        grade=_text(attributes.get("grade")),
        standards=_strings(attributes.get("standards")),
        packaging=_text(attributes.get("packaging")),
        price_per_unit=_number(attributes.get("price_per_unit")),
    )


def _differences(stated_: RequirementsOf | QualitiesOf, typed: RequirementsOf | QualitiesOf) -> list[str]:
    found = []
    for field in fields(stated_):
        before, after = getattr(stated_, field.name), getattr(typed, field.name)
        if before not in (None, frozenset()) and after not in (None, frozenset()) and before != after:
            found.append(field.name)
    return found


def requirement_conflicts(attributes: Mapping[str, Any], requirements: Requirements) -> list[str]:
    """The requirements ``attributes`` (new or older keys) state otherwise than ``requirements``."""
    return _differences(requirements_of(attributes), requirements_of(requirements.attributes()))


def quality_conflicts(attributes: Mapping[str, Any], qualities: Qualities) -> list[str]:
    """The qualities ``attributes`` state otherwise than ``qualities``."""
    return _differences(qualities_of(attributes), qualities_of(qualities.attributes()))
