"""HTML forms made from the API's own request schemas, so a form takes exactly what the API
takes: :func:`fields_of` describes a pydantic model's fields as form fields (nested models as
groups of fields named ``group.field``), :func:`parse` turns the posted form back into the
model, and its errors name each field and the problem in the reader's language."""

import re
import types
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from shared.reasons import Language
from shared.stakeholder.portal.i18n import error_text, field_help, field_label
from shared.text_guard import problem_with

__all__ = ["FormError", "FormField", "fields_of", "form_values", "parse"]

Kind = Literal["text", "textarea", "number", "integer", "date", "select", "list", "checkbox"]
LIST_SEPARATORS = re.compile(r"[,，、;；\n]+")
LONG_TEXT = 500  # a string field allowing more than this is a text area
# What a person fills in first; the rest follow in the schema's order, nested groups last.
FIRST = (
    "category",
    "product_category",
    "topic",
    "programme_kind",
    "title",
    "name",
    "variety",
    "tier",
    "quantity",
    "seats",
    "budget",
    "unit",
)


@dataclass(frozen=True)
class FormField:
    name: str  # dotted for a nested model's fields: "requirements.required_certifications"
    kind: Kind
    required: bool
    options: tuple[str, ...] = ()  # a Literal's values; the view may add a field's own choices
    max_length: int | None = None

    @property
    def group(self) -> str:
        """The nested model a field belongs to ("requirements"), or "" for a top-level field."""
        return self.name.partition(".")[0] if "." in self.name else ""

    @property
    def key(self) -> str:
        """The last part of the name: what labels and help are looked up by."""
        return self.name.rpartition(".")[2]

    def label(self, lang: Language) -> str:
        return field_label(self.key, lang)

    def help(self, lang: Language) -> str:
        return field_help(self.key, lang)


@dataclass(frozen=True)
class FormError:
    field: str  # a FormField's name, or "" for the form as a whole
    message: str  # in the reader's language, naming the field


def _unwrapped(annotation: Any, metadata: list[Any]) -> tuple[Any, bool]:
    """The annotation without ``Annotated`` and ``| None`` (the constraints it held are added to
    ``metadata``), and whether None was allowed."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *more = get_args(annotation)
            metadata += more
        elif origin in (Union, types.UnionType):
            rest = [arg for arg in get_args(annotation) if arg is not type(None)]
            optional = optional or len(rest) < len(get_args(annotation))
            annotation = rest[0]
        else:
            return annotation, optional


def _max_length(metadata: list[Any]) -> int | None:
    for item in metadata:
        value = getattr(item, "max_length", None)
        if isinstance(value, int):
            return value
        nested = getattr(item, "metadata", None)  # a FieldInfo inside Annotated
        if isinstance(nested, list) and (found := _max_length(nested)) is not None:
            return found
    return None


def _field(name: str, annotation: Any, info: FieldInfo) -> list[FormField]:
    metadata = list(info.metadata)
    kind, optional = _unwrapped(annotation, metadata)
    required = info.is_required() and not optional
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return fields_of(kind, prefix=name + ".")
    origin = get_origin(kind)
    if origin is Literal:
        return [FormField(name, "select", required, tuple(str(v) for v in get_args(kind)))]
    if origin is list:
        return [FormField(name, "list", required)]
    if origin is dict or kind is dict:
        return []  # free-form attributes are for systems; people use the typed fields
    if kind is bool:
        return [FormField(name, "checkbox", False)]
    if kind is int:
        return [FormField(name, "integer", required)]
    if kind in (Decimal, float):
        return [FormField(name, "number", required)]
    if kind in (date, datetime):
        return [FormField(name, "date", required)]
    length = _max_length(metadata)
    return [FormField(name, "textarea" if (length or 0) > LONG_TEXT else "text", required, (), length)]


def fields_of(
    model: type[BaseModel], *, prefix: str = "", skip: frozenset[str] = frozenset()
) -> list[FormField]:
    """The form fields of ``model`` (all but ``skip``), in the schema's order."""
    fields: list[FormField] = []
    for name, info in model.model_fields.items():
        if name not in skip:
            fields += _field(prefix + name, info.annotation, info)
    if prefix:
        return fields
    rank = {name: i for i, name in enumerate(FIRST)}
    return sorted(fields, key=lambda f: (bool(f.group), rank.get(f.name, len(FIRST))))


def _put(data: dict[str, Any], name: str, value: Any) -> None:
    *groups, last = name.split(".")
    for group in groups:
        data = data.setdefault(group, {})
    data[last] = value


def parse(
    model: type[BaseModel],
    fields: list[FormField],
    posted: dict[str, str],
    lang: Language,
    *,
    clearing: bool = False,
) -> tuple[BaseModel | None, list[FormError]]:
    """The model a posted form describes, or the errors that keep it from being one. Empty
    optional fields are left out (the schema's default applies) — unless ``clearing`` (a form
    that changes a record), where an emptied text says "" and an emptied date or number None;
    lists are comma-separated."""
    data: dict[str, Any] = {}
    known = {f.name: f for f in fields}
    for field in fields:
        raw = posted.get(field.name, "")
        problem = problem_with(raw)
        if problem is not None:
            return None, [
                FormError(field.name, f"{field.label(lang)}: {error_text('control_character', lang)}")
            ]
        raw = raw.strip() if field.kind != "textarea" else raw
        if field.kind == "checkbox":
            _put(data, field.name, raw in ("on", "true", "1"))
        elif field.kind == "list":
            if raw:
                _put(data, field.name, [part.strip() for part in LIST_SEPARATORS.split(raw) if part.strip()])
        elif raw.strip():
            _put(data, field.name, raw)
        elif clearing and not field.group and field.name in posted:
            _put(data, field.name, "" if field.kind in ("text", "textarea") else None)
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            where = [str(part) for part in error["loc"] if isinstance(part, str)]
            name = next(
                (".".join(where[:n]) for n in range(len(where), 0, -1) if ".".join(where[:n]) in known), ""
            )
            label = known[name].label(lang) if name else ""
            text = error_text(error["type"], lang, error.get("ctx") or {}, str(error["msg"]))
            errors.append(FormError(name, f"{label}: {text}" if label else text))
        return None, errors


def form_values(model: BaseModel | dict[str, Any], fields: list[FormField]) -> dict[str, str]:
    """What each field of a form shows for an existing record (``model``, or its dump)."""
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    values: dict[str, str] = {}
    for field in fields:
        value: Any = data
        for part in field.name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        values[field.name] = "、".join(map(str, value)) if isinstance(value, list) else str(value)
    return values
