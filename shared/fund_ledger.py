"""The rules of a special fund's ledger, as pure functions over balances.

A fund (专项资金) earmarks its money in **shares** — e.g. e-commerce infrastructure and
social-work service projects. Four kinds of entry move a share's balance:

- a **tranche** brings money in (``received``);
- an **allocation** commits part of a share to a project or a confirmed match (``allocated``);
- a **disbursement** pays part of an allocation out, against evidence (``disbursed``);
- a **return** gives money back to the share: ``repaid`` after it was paid out, or an
  undisbursed commitment ``released``.

The invariants, checked by the government service before it writes an entry and by the
coordinator again when it applies one (so a replay checks them too):

- a share never receives more than it earmarks: ``received ≤ planned``;
- a share is never over-allocated: ``committed = allocated − released − repaid ≤ planned``;
- a share is never over-disbursed: ``paid = disbursed − repaid ≤ received``;
- an allocation never pays out more than it commits: ``disbursed ≤ amount − released``;
- only what was paid out can be repaid, only what was not can be released.

Every function returns the new balance or raises :class:`LedgerRefusal`, whose message says
which rule the entry breaks and by how much.
"""

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

__all__ = [
    "ZERO",
    "AllocationBalance",
    "LedgerRefusal",
    "ShareBalance",
    "allocate",
    "disburse",
    "give_back",
    "receive",
]

ZERO = Decimal(0)


class LedgerRefusal(Exception):
    """An entry that would break one of the ledger's rules; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class ShareBalance:
    """The running totals of one share of a fund, in yuan."""

    planned: Decimal
    received: Decimal = ZERO
    allocated: Decimal = ZERO
    released: Decimal = ZERO
    disbursed: Decimal = ZERO
    repaid: Decimal = ZERO

    @property
    def committed(self) -> Decimal:
        """What allocations hold of the earmark."""
        return self.allocated - self.released - self.repaid

    @property
    def paid(self) -> Decimal:
        """What has been paid out and not paid back."""
        return self.disbursed - self.repaid

    @property
    def uncommitted(self) -> Decimal:
        return self.planned - self.committed

    @property
    def cash(self) -> Decimal:
        """Received money not paid out."""
        return self.received - self.paid


@dataclass(frozen=True)
class AllocationBalance:
    """The running totals of one allocation, in yuan."""

    amount: Decimal
    released: Decimal = ZERO
    disbursed: Decimal = ZERO
    repaid: Decimal = ZERO

    @property
    def undisbursed(self) -> Decimal:
        """What the allocation may still pay out."""
        return self.amount - self.released - self.disbursed

    @property
    def repayable(self) -> Decimal:
        return self.disbursed - self.repaid


def _yuan(value: Decimal) -> str:
    return f"{value:,.2f} yuan"


def _positive(amount: Decimal, field: str) -> None:
    if amount <= 0:
        raise LedgerRefusal(f"the amount must be positive, not {amount}", field)


def receive(share: ShareBalance, amount: Decimal, *, key: str) -> ShareBalance:
    """``share`` after a tranche brings ``amount`` into it."""
    _positive(amount, f"amounts.{key}")
    room = share.planned - share.received
    if amount > room:
        raise LedgerRefusal(
            f"share {key!r} earmarks {_yuan(share.planned)} and has received {_yuan(share.received)}: "
            f"it can receive at most {_yuan(room)} more, not {_yuan(amount)}",
            f"amounts.{key}",
        )
    return replace(share, received=share.received + amount)


def allocate(share: ShareBalance, amount: Decimal, *, key: str) -> tuple[ShareBalance, AllocationBalance]:
    """``share`` after committing ``amount`` of it, and the new allocation."""
    _positive(amount, "amount")
    if amount > share.uncommitted:
        raise LedgerRefusal(
            f"share {key!r} earmarks {_yuan(share.planned)} of which {_yuan(share.committed)} is "
            f"committed: at most {_yuan(share.uncommitted)} can be allocated, not {_yuan(amount)}",
            "amount",
        )
    return replace(share, allocated=share.allocated + amount), AllocationBalance(amount)


def disburse(
    share: ShareBalance, allocation: AllocationBalance, amount: Decimal, *, key: str
) -> tuple[ShareBalance, AllocationBalance]:
    """``share`` and ``allocation`` after paying ``amount`` of the allocation out."""
    _positive(amount, "amount")
    if amount > allocation.undisbursed:
        raise LedgerRefusal(
            f"the allocation can pay out at most {_yuan(allocation.undisbursed)} more "
            f"(of {_yuan(allocation.amount)}), not {_yuan(amount)}",
            "amount",
        )
    if amount > share.cash:
        raise LedgerRefusal(
            f"share {key!r} has received {_yuan(share.received)} and paid out {_yuan(share.paid)}: "
            f"it holds {_yuan(share.cash)}, not the {_yuan(amount)} asked for; a tranche must come first",
            "amount",
        )
    return (
        replace(share, disbursed=share.disbursed + amount),
        replace(allocation, disbursed=allocation.disbursed + amount),
    )


def give_back(
    share: ShareBalance,
    allocation: AllocationBalance,
    amount: Decimal,
    kind: Literal["repaid", "released"],
) -> tuple[ShareBalance, AllocationBalance]:
    """``share`` and ``allocation`` after ``amount`` of the allocation goes back to the share."""
    _positive(amount, "amount")
    if kind == "repaid":
        if amount > allocation.repayable:
            raise LedgerRefusal(
                f"the allocation has paid out {_yuan(allocation.repayable)} not yet repaid: "
                f"{_yuan(amount)} cannot be repaid",
                "amount",
            )
        return (
            replace(share, repaid=share.repaid + amount),
            replace(allocation, repaid=allocation.repaid + amount),
        )
    if amount > allocation.undisbursed:
        raise LedgerRefusal(
            f"the allocation has {_yuan(allocation.undisbursed)} not paid out: "
            f"{_yuan(amount)} cannot be released",
            "amount",
        )
    return (
        replace(share, released=share.released + amount),
        replace(allocation, released=allocation.released + amount),
    )
