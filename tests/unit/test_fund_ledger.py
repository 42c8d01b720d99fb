"""The special fund's ledger rules, as pure functions: every sequence of entries they accept
keeps the invariants, and every entry they refuse would have broken one."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.fund_ledger import (
    AllocationBalance,
    LedgerRefusal,
    ShareBalance,
    allocate,
    disburse,
    give_back,
    receive,
)

Kind = Literal["receive", "allocate", "disburse", "repaid", "released"]


@dataclass
class Entries:
    """The accepted entries, from which the totals are recomputed independently."""

    planned: Decimal
    accepted: list[tuple[Kind, int, Decimal]] = field(default_factory=list)

    def total(self, kind: Kind, allocation: int | None = None) -> Decimal:
        return sum(
            (a for k, i, a in self.accepted if k == kind and (allocation is None or i == allocation)),
            Decimal(0),
        )

    def allocations(self) -> int:
        return sum(1 for k, _, _ in self.accepted if k == "allocate")

    def broken(self, extra: tuple[Kind, int, Decimal] | None = None) -> list[str]:
        """The invariants the accepted entries (plus ``extra``) break."""
        entries = Entries(self.planned, [*self.accepted, *([extra] if extra else [])])
        received, allocated = entries.total("receive"), entries.total("allocate")
        disbursed, repaid, released = (
            entries.total("disburse"),
            entries.total("repaid"),
            entries.total("released"),
        )
        broken = []
        if received > self.planned:
            broken.append("received beyond the earmark")
        if allocated - released - repaid > self.planned:
            broken.append("over-allocated")
        if disbursed - repaid > received:
            broken.append("over-disbursed")
        for index in range(entries.allocations()):
            amount = [a for k, _, a in entries.accepted if k == "allocate"][index]
            a_disbursed, a_released = entries.total("disburse", index), entries.total("released", index)
            if a_disbursed > amount - a_released:
                broken.append(f"allocation {index} paid beyond its amount")
            if entries.total("repaid", index) > a_disbursed:
                broken.append(f"allocation {index} repaid more than it paid")
        return broken


amounts = st.integers(min_value=1, max_value=2_000_00).map(lambda fen: Decimal(fen) / 100)
steps = st.lists(
    st.tuples(
        st.sampled_from(["receive", "allocate", "disburse", "repaid", "released"]), st.integers(0, 5), amounts
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(planned=amounts.map(lambda a: a * 5), steps=steps)
def test_accepted_entries_keep_every_invariant_and_refused_ones_would_break_one(
    planned: Decimal, steps: list[tuple[Kind, int, Decimal]]
) -> None:
    share = ShareBalance(planned)
    allocations: list[AllocationBalance] = []
    entries = Entries(planned)
    for kind, pick, amount in steps:
        index = pick % len(allocations) if allocations else 0
        if kind not in ("receive", "allocate") and not allocations:
            continue
        entry: tuple[Kind, int, Decimal] = (kind, len(allocations) if kind == "allocate" else index, amount)
        refusal: LedgerRefusal | None = None
        try:
            if kind == "receive":
                share = receive(share, amount, key="s")
            elif kind == "allocate":
                share, allocation = allocate(share, amount, key="s")
                allocations.append(allocation)
            elif kind == "disburse":
                share, allocations[index] = disburse(share, allocations[index], amount, key="s")
            else:
                share, allocations[index] = give_back(share, allocations[index], amount, kind)
        except LedgerRefusal as refused:
            refusal = refused
        if refusal is not None:
            assert entries.broken(entry), f"{entry} was refused ({refusal.message}) but breaks no rule"
            continue
        entries.accepted.append(entry)
        assert entries.broken() == []
        assert share == ShareBalance(
            planned,
            entries.total("receive"),
            entries.total("allocate"),
            entries.total("released"),
            entries.total("disburse"),
            entries.total("repaid"),
        )


def test_a_share_is_never_over_allocated_and_the_refusal_says_by_how_much() -> None:
    share, _ = allocate(ShareBalance(Decimal("1000000")), Decimal("800000"), key="ecommerce")
    with pytest.raises(LedgerRefusal) as refused:
        allocate(share, Decimal("200000.01"), key="ecommerce")
    assert refused.value.field == "amount"
    assert "200,000.00 yuan can be allocated" in refused.value.message
    assert allocate(share, Decimal("200000"), key="ecommerce")[0].uncommitted == 0


def test_money_is_paid_only_once_it_has_been_received() -> None:
    share, allocation = allocate(ShareBalance(Decimal("500")), Decimal("300"), key="social")
    with pytest.raises(LedgerRefusal, match="a tranche must come first"):
        disburse(share, allocation, Decimal("1"), key="social")
    share = receive(share, Decimal("100"), key="social")
    share, allocation = disburse(share, allocation, Decimal("100"), key="social")
    assert (share.paid, share.cash, allocation.undisbursed) == (Decimal(100), Decimal(0), Decimal(200))


def test_repaid_money_goes_back_to_the_share_and_a_release_frees_what_was_not_paid() -> None:
    share = receive(ShareBalance(Decimal("1000")), Decimal("1000"), key="s")
    share, allocation = allocate(share, Decimal("1000"), key="s")
    share, allocation = disburse(share, allocation, Decimal("600"), key="s")
    share, allocation = give_back(share, allocation, Decimal("100"), "repaid")
    share, allocation = give_back(share, allocation, Decimal("400"), "released")
    assert (share.committed, share.paid, share.uncommitted) == (Decimal(500), Decimal(500), Decimal(500))
    with pytest.raises(LedgerRefusal, match="cannot be released"):
        give_back(share, allocation, Decimal("0.01"), "released")
    with pytest.raises(LedgerRefusal, match="cannot be repaid"):
        give_back(share, allocation, Decimal("500.01"), "repaid")


def test_a_tranche_never_brings_a_share_beyond_its_earmark() -> None:
    share = receive(ShareBalance(Decimal("100")), Decimal("60"), key="cold_chain")
    with pytest.raises(LedgerRefusal) as refused:
        receive(share, Decimal("40.01"), key="cold_chain")
    assert refused.value.field == "amounts.cold_chain"
