"""Following each fund's ledger from its events, with the ledger's rules checked again.

The government service checks every entry before it writes it; the coordinator checks it once
more as it applies the event (and so does every replay). An entry that breaks a rule, that
comes from another organisation than the fund's, or that would rewrite an entry already
applied is refused: it changes nothing and goes to the dead letters with the reason. Entries
apply in ledger order — the projection holds one that comes before its predecessor.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator.funds.models import LedgerAllocation, LedgerFund, LedgerMovement, LedgerShare
from services.coordinator.matches.lifecycle import MatchStatus
from services.coordinator.matches.models import Match
from services.coordinator.registry.models import RegisteredOrganisation
from shared import fund_ledger
from shared.errors import Conflict, Forbidden, InvalidInput
from shared.events.data import FundAllocated, FundDisbursed, FundOpened, FundReturned, FundTrancheReceived
from shared.fund_ledger import ZERO
from shared.regions import county_of, covers

__all__ = ["FundEntryData", "follow_entry", "ledger_version", "open_fund", "quarter_of"]

FundEntryData = FundTrancheReceived | FundAllocated | FundDisbursed | FundReturned


def quarter_of(day: date) -> str:
    """``YYYY-Qn``: the calendar quarter holding ``day``."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def ledger_version(session: Session, fund_id: str) -> int:
    """The number of the last entry applied of the fund's ledger (0 if it is not open)."""
    fund = session.get(LedgerFund, fund_id)
    return 0 if fund is None else fund.version


def open_fund(session: Session, data: FundOpened, at: datetime) -> LedgerFund:
    if data.version != 1:
        raise InvalidInput("a fund's ledger opens with entry 1", field="version")
    if session.get(LedgerFund, data.fund_id) is not None:
        raise Conflict(f"fund {data.fund_id} is open already", field="fund_id")
    owner = session.get(RegisteredOrganisation, data.organisation_id)
    if owner is not None and not covers(county_of(owner.region), data.region):
        raise InvalidInput(
            f"a fund lies within its bureau's county ({county_of(owner.region)}), not {data.region}",
            field="region",
        )
    fund = LedgerFund(
        id=data.fund_id,
        organisation_id=data.organisation_id,
        name=data.name,
        fiscal_year=data.fiscal_year,
        region=data.region,
        description=data.description,
        version=1,
        opened_at=at,
    )
    fund.shares = [
        LedgerShare(
            fund_id=data.fund_id,
            share=share.share,
            position=position,
            name=share.name,
            purpose=share.purpose,
            planned=share.amount,
            **dict.fromkeys(("received", "allocated", "released", "disbursed", "repaid"), ZERO),
        )
        for position, share in enumerate(data.shares)
    ]
    session.add(fund)
    return fund


def _fund_for(session: Session, data: FundEntryData) -> LedgerFund:
    """The fund ``data`` is the next entry of; refuses an entry of another organisation's fund
    or one that would rewrite the ledger."""
    fund = session.get(LedgerFund, data.fund_id)
    if fund is None:
        raise InvalidInput(f"fund {data.fund_id} is not open", field="fund_id")
    if fund.organisation_id != data.organisation_id:
        raise Forbidden(
            f"fund {fund.id} belongs to organisation {fund.organisation_id}; "
            f"{data.organisation_id} cannot write its ledger",
            field="organisation_id",
        )
    if data.version != fund.version + 1:
        raise Conflict(
            f"fund {fund.id}'s ledger has {fund.version} entries: entry {data.version} cannot be "
            "applied again or rewritten",
            field="version",
        )
    return fund


def _share(fund: LedgerFund, key: str) -> LedgerShare:
    for share in fund.shares:
        if share.share == key:
            return share
    raise InvalidInput(f"fund {fund.id} has no share {key!r}", field="share")


def _allocation(session: Session, fund: LedgerFund, allocation_id: str) -> LedgerAllocation:
    allocation = session.get(LedgerAllocation, allocation_id)
    if allocation is None or allocation.fund_id != fund.id:
        raise InvalidInput(f"fund {fund.id} has no allocation {allocation_id}", field="allocation_id")
    return allocation


def _checked_match(session: Session, fund: LedgerFund, data: FundAllocated) -> Match:
    """The confirmed match of one of the fund owner's offers that ``data`` funds, with room."""
    match = session.get(Match, data.match_id)
    if match is None or match.offer_organisation_id != fund.organisation_id:
        raise InvalidInput(
            f"match {data.match_id} is not on an offer of the fund's organisation", field="match_id"
        )
    if match.status not in (MatchStatus.CONFIRMED, MatchStatus.FULFILLED):
        raise Conflict(
            f"match {match.id} is {match.status}: only a confirmed match is funded", field="match_id"
        )
    if match.offer_unit != "yuan":
        raise InvalidInput(f"match {match.id} is not counted in yuan", field="match_id")
    if data.recipient_organisation_id != match.need_organisation_id:
        raise InvalidInput(
            f"the recipient of match {match.id}'s money is its need's organisation "
            f"{match.need_organisation_id}",
            field="recipient_organisation_id",
        )
    funded = session.scalar(
        select(func.coalesce(func.sum(LedgerAllocation.held()), 0)).where(
            LedgerAllocation.match_id == match.id
        )
    )
    room = match.offer_quantity - Decimal(funded or 0)
    if data.amount > room:
        raise Conflict(
            f"match {match.id} grants {match.offer_quantity:,.2f} yuan, of which {room:,.2f} is not "
            f"yet allocated: {data.amount:,.2f} is too much",
            field="amount",
        )
    return match


def _movement(
    fund: LedgerFund,
    data: FundEntryData,
    share: str,
    movement: str,
    amount: Decimal,
    on: date,
    *,
    township: str,
    allocation_id: str | None,
    entry_id: str,
) -> LedgerMovement:
    return LedgerMovement(
        fund_id=fund.id,
        version=data.version,
        share=share,
        movement=movement,
        amount=amount,
        on=on,
        quarter=quarter_of(on),
        township=township,
        allocation_id=allocation_id,
        entry_id=entry_id,
    )


def follow_entry(session: Session, data: FundEntryData) -> None:
    """Apply the next entry of a fund's ledger; every check comes before any change."""
    fund = _fund_for(session, data)
    try:
        movements = _apply(session, fund, data)
    except fund_ledger.LedgerRefusal as refusal:
        raise Conflict(
            f"fund {fund.id}, entry {data.version}: {refusal.message}", field=refusal.field
        ) from None
    fund.version = data.version
    session.add_all(movements)


def _apply(session: Session, fund: LedgerFund, data: FundEntryData) -> list[LedgerMovement]:
    match data:
        case FundTrancheReceived():
            shares = [(_share(fund, key), amount) for key, amount in data.amounts.items()]
            after = [fund_ledger.receive(s.balance(), amount, key=s.share) for s, amount in shares]
            for (account, _), received in zip(shares, after, strict=True):
                account.set_balance(received)
            return [
                _movement(
                    fund,
                    data,
                    share.share,
                    "received",
                    amount,
                    data.received_on,
                    township=fund.region,
                    allocation_id=None,
                    entry_id=data.tranche_id,
                )
                for share, amount in shares
            ]
        case FundAllocated():
            share = _share(fund, data.share)
            if not covers(fund.region, data.township):
                raise InvalidInput(
                    f"township {data.township} lies outside the fund's region {fund.region}", field="township"
                )
            if session.get(LedgerAllocation, data.allocation_id) is not None:
                raise Conflict(f"allocation {data.allocation_id} exists already", field="allocation_id")
            if data.match_id:
                _checked_match(session, fund, data)
            # a recipient named beside a match is the bureau's statement: its registration may
            # not have reached this coordinator yet, and it is not a rule of the ledger
            committed, allocated = fund_ledger.allocate(share.balance(), data.amount, key=share.share)
            share.set_balance(committed)
            session.add(
                LedgerAllocation(
                    id=data.allocation_id,
                    fund_id=fund.id,
                    share=data.share,
                    amount=allocated.amount,
                    released=ZERO,
                    disbursed=ZERO,
                    repaid=ZERO,
                    allocated_on=data.allocated_on,
                    township=data.township,
                    purpose=data.purpose,
                    recipient_organisation_id=data.recipient_organisation_id,
                    recipient_name=data.recipient_name,
                    match_id=data.match_id,
                    project=data.project,
                    project_id=data.project_id,
                    budget_line=data.budget_line,
                )
            )
            return [
                _movement(
                    fund,
                    data,
                    share.share,
                    "allocated",
                    data.amount,
                    data.allocated_on,
                    township=data.township,
                    allocation_id=data.allocation_id,
                    entry_id=data.allocation_id,
                )
            ]
        case FundDisbursed() | FundReturned():
            allocation = _allocation(session, fund, data.allocation_id)
            share = _share(fund, allocation.share)
            if isinstance(data, FundDisbursed):
                movement, on, entry_id = "disbursed", data.paid_on, data.disbursement_id
                share_after, balance = fund_ledger.disburse(
                    share.balance(), allocation.balance(), data.amount, key=share.share
                )
            else:
                movement, on, entry_id = data.return_kind, data.returned_on, data.return_id
                share_after, balance = fund_ledger.give_back(
                    share.balance(), allocation.balance(), data.amount, data.return_kind
                )
            share.set_balance(share_after)
            allocation.set_balance(balance)
            return [
                _movement(
                    fund,
                    data,
                    share.share,
                    movement,
                    data.amount,
                    on,
                    township=allocation.township,
                    allocation_id=allocation.id,
                    entry_id=entry_id,
                )
            ]
