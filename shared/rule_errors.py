"""What a domain's pure rules raise when a request breaks one (``RuleBroken``), and how it
reaches the caller: :func:`obeying` runs a check and turns a broken rule into the error HTTP
and the dead-letter path report — 403 when the organisation may not act, 409 otherwise."""

from collections.abc import Callable
from typing import TypeVar

from shared.errors import Conflict, Forbidden

__all__ = ["RuleBroken", "obeying"]

T = TypeVar("T")


class RuleBroken(Exception):
    """A rule the request breaks; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def obeying(check: Callable[[], T]) -> T:
    """``check()``'s result, or the broken rule as Forbidden (``organisation_id``) or Conflict."""
    try:
        return check()
    except RuleBroken as broken:
        error = Forbidden if broken.field == "organisation_id" else Conflict
        raise error(broken.message, field=broken.field) from None
