"""Handlers of the government service."""

from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.government.models import Fund, FundAllocation, FundEntry, FundShareAccount, Programme
from services.government.schemas import (
    AllocationCreate,
    DisbursementCreate,
    FundCreate,
    ProgrammeCreate,
    ReturnCreate,
    TrancheCreate,
)
from shared import fund_ledger
from shared.db import UnitOfWork
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events.data import (
    FundAllocated,
    FundDisbursed,
    FundOpened,
    FundReturned,
    FundTrancheReceived,
    ProgrammeOpened,
)
from shared.events.envelope import new_event_id
from shared.regions import county_of, covers
from shared.stakeholder.models import CoordinatorNotice, MatchCopy, Offer, Organisation
from shared.stakeholder.schemas import OfferCreate
from shared.stakeholder.service import OFFERS, add_listing, emit

__all__ = [
    "allocate",
    "disburse",
    "get_fund",
    "give_back",
    "open_fund",
    "open_programme",
    "receive_tranche",
]

FUNDING_PROGRAMMES = ("subsidy", "fund")


def open_programme(uow: UnitOfWork, org: Organisation, command: ProgrammeCreate) -> Programme:
    """Open a programme: an offer in the shared book carrying its machine-readable eligibility."""
    eligibility = command.eligibility.model_dump(mode="json")
    offer = add_listing(
        uow.session,
        org,
        OFFERS,
        OfferCreate(
            category=command.effective_category,
            title=command.name,
            description=command.description,
            quantity=command.budget,
            unit=command.effective_unit,
            region=command.region,
            service_area=command.service_area,
            window_start=command.window_start,
            window_end=command.window_end,
            attributes={"programme_kind": command.programme_kind, "eligibility": eligibility},
        ),
    )
    programme = Programme(
        id=new_event_id(),
        organisation_id=org.id,
        offer_id=offer.id,
        name=command.name,
        programme_kind=command.programme_kind,
        eligibility=eligibility,
    )
    programme.offer = offer
    uow.session.add(programme)
    event = ProgrammeOpened(
        programme_id=programme.id,
        organisation_id=org.id,
        offer_id=offer.id,
        name=programme.name,
        programme_kind=command.programme_kind,
        budget=offer.quantity,
        unit=offer.unit,
        eligibility=command.eligibility,
        window_start=offer.window_start,
        window_end=offer.window_end,
    )
    emit(uow.session, org, "programme", "opened", event, region=offer.region)
    uow.commit()
    return programme


def open_fund(uow: UnitOfWork, org: Organisation, command: FundCreate) -> Fund:
    """Set up a fund with its earmarked shares: the ledger's first entry."""
    region = command.region or county_of(org.region)
    if not covers(county_of(org.region), region):
        raise InvalidInput(
            f"a fund of this organisation lies within its county {county_of(org.region)}, not {region}",
            field="region",
        )
    fund = Fund(
        id=new_event_id(),
        organisation_id=org.id,
        name=command.name,
        fiscal_year=command.fiscal_year,
        region=region,
        description=command.description,
        version=1,
    )
    fund.shares = [
        FundShareAccount(
            fund_id=fund.id,
            share=share.share,
            position=position,
            name=share.name,
            purpose=share.purpose,
            planned=share.amount,
            **dict.fromkeys(("received", "allocated", "released", "disbursed", "repaid"), Decimal(0)),
        )
        for position, share in enumerate(command.shares)
    ]
    uow.session.add(fund)
    event = FundOpened(
        fund_id=fund.id,
        organisation_id=org.id,
        version=1,
        name=fund.name,
        fiscal_year=fund.fiscal_year,
        region=region,
        description=fund.description,
        shares=command.shares,
    )
    _record(uow.session, org, fund, "opened", event)
    uow.commit()
    return fund


def get_fund(session: Session, org: Organisation, fund_id: str) -> Fund:
    fund = session.get(Fund, fund_id)
    if fund is None or fund.organisation_id != org.id:
        raise NotFound(f"no fund {fund_id!r} of this organisation", field="fund_id")
    return fund


def _claim_next_entry(session: Session, org: Organisation, fund_id: str) -> Fund:
    """The fund, with its ledger's next entry number claimed. The claim is the transaction's
    first write, so it takes the write lock (SQLite) or the row lock (PostgreSQL) before any
    balance is read: two entries on one fund are checked one after the other, never against
    the same balance."""
    claimed = session.execute(
        update(Fund)
        .where(Fund.id == fund_id, Fund.organisation_id == org.id)
        .values(version=Fund.version + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"no fund {fund_id!r} of this organisation", field="fund_id")
    fund = session.get(Fund, fund_id, populate_existing=True)
    assert fund is not None
    session.refresh(fund, ["shares"])
    return fund


def _share(fund: Fund, key: str, field: str) -> FundShareAccount:
    for account in fund.shares:
        if account.share == key:
            return account
    known = ", ".join(a.share for a in fund.shares)
    raise InvalidInput(f"fund {fund.name!r} has no share {key!r} (it has {known})", field=field)


def _allocation(session: Session, fund: Fund, allocation_id: str) -> FundAllocation:
    allocation = session.get(FundAllocation, allocation_id)
    if allocation is None or allocation.fund_id != fund.id:
        raise NotFound(f"no allocation {allocation_id!r} in this fund", field="allocation_id")
    return allocation


def _refused(refusal: fund_ledger.LedgerRefusal) -> Conflict:
    return Conflict(refusal.message, field=refusal.field)


def _record(
    session: Session,
    org: Organisation,
    fund: Fund,
    verb: str,
    event: FundOpened | FundTrancheReceived | FundAllocated | FundDisbursed | FundReturned,
) -> None:
    session.add(
        FundEntry(fund_id=fund.id, version=event.version, entry_kind=verb, data=event.model_dump(mode="json"))
    )
    emit(session, org, "fund", verb, event, region=fund.region)


def receive_tranche(uow: UnitOfWork, org: Organisation, fund_id: str, command: TrancheCreate) -> FundEntry:
    """Money arrives in the fund, split over its shares; no share receives beyond its earmark."""
    fund = _claim_next_entry(uow.session, org, fund_id)
    for key, amount in command.amounts.items():
        account = _share(fund, key, f"amounts.{key}")
        try:
            account.set_balance(fund_ledger.receive(account.balance(), amount, key=key))
        except fund_ledger.LedgerRefusal as refusal:
            raise _refused(refusal) from None
    event = FundTrancheReceived(
        fund_id=fund.id,
        organisation_id=org.id,
        version=fund.version,
        tranche_id=new_event_id(),
        received_on=command.received_on,
        source=command.source,
        amounts=command.amounts,
    )
    return _commit(uow, org, fund, "tranche_received", event)


def _commit(
    uow: UnitOfWork,
    org: Organisation,
    fund: Fund,
    verb: str,
    event: FundTrancheReceived | FundAllocated | FundDisbursed | FundReturned,
) -> FundEntry:
    _record(uow.session, org, fund, verb, event)
    uow.commit()
    entry = uow.session.get(FundEntry, (fund.id, event.version))
    assert entry is not None
    return entry


def _funded_match(session: Session, org: Organisation, match_id: str, amount: Decimal) -> MatchCopy:
    """The confirmed match of one of ``org``'s funding programmes that ``amount`` would fund;
    refuses what the match cannot take."""
    copy = session.get(MatchCopy, match_id)
    if copy is None or copy.offer_organisation_id != org.id:
        raise NotFound(f"no match {match_id!r} on an offer of this organisation", field="match_id")
    if copy.status not in ("confirmed", "fulfilled"):
        raise Conflict(
            f"match {match_id} is {copy.status}: only a confirmed match can be funded", field="match_id"
        )
    programme = session.scalar(select(Programme).join(Offer).where(Offer.id == copy.state["offer_id"]))
    if programme is None or programme.programme_kind not in FUNDING_PROGRAMMES:
        raise Conflict(f"match {match_id} is not on a subsidy or fund programme", field="match_id")
    if copy.state["offer_unit"] != "yuan":
        raise Conflict(f"match {match_id} is not counted in yuan", field="match_id")
    granted = Decimal(copy.state["offer_quantity"])
    funded = session.scalar(
        select(func.coalesce(func.sum(FundAllocation.held()), 0)).where(FundAllocation.match_id == match_id)
    )
    room = granted - Decimal(funded or 0)
    if amount > room:
        raise Conflict(
            f"match {match_id} grants {granted:,.2f} yuan, of which {room:,.2f} is not yet allocated: "
            f"{amount:,.2f} is too much",
            field="amount",
        )
    return copy


def _funded_line(session: Session, org: Organisation, fund: Fund, command: AllocationCreate) -> str:
    """The title of the cross-sector project whose budget line ``command`` funds, as the
    coordinator last published it; refuses a line that does not draw on this fund's share or
    has not room for the amount."""
    notice = session.get(CoordinatorNotice, ("project", command.project_id))
    if notice is None or org.id not in notice.organisations:
        raise NotFound(
            f"no project {command.project_id!r} whose budget draws on this organisation's funds",
            field="project_id",
        )
    state = notice.state
    if state["status"] not in ("proposed", "active"):
        raise Conflict(f"project {command.project_id} is {state['status']}", field="project_id")
    lines = [line for line in state["budget_lines"] if line["line"] == command.budget_line]
    if not lines or (lines[0]["fund_id"], lines[0]["share"]) != (fund.id, command.share):
        raise InvalidInput(
            f"project {command.project_id} has no budget line {command.budget_line!r} drawing on "
            f"share {command.share!r} of this fund",
            field="budget_line",
        )
    held = session.scalar(
        select(func.coalesce(func.sum(FundAllocation.held()), 0)).where(
            FundAllocation.project_id == command.project_id, FundAllocation.budget_line == command.budget_line
        )
    )
    room = Decimal(lines[0]["amount"]) - Decimal(held or 0)
    if command.amount > room:
        raise Conflict(
            f"budget line {command.budget_line!r} can take {room:,.2f} yuan more, not {command.amount:,.2f}",
            field="amount",
        )
    return str(state["title"])


def allocate(uow: UnitOfWork, org: Organisation, fund_id: str, command: AllocationCreate) -> FundAllocation:
    """Commit part of a share to a project or a confirmed match; never beyond the earmark."""
    session = uow.session
    fund = _claim_next_entry(session, org, fund_id)
    account = _share(fund, command.share, "share")
    if not covers(fund.region, command.township):
        raise InvalidInput(
            f"township {command.township} lies outside the fund's region {fund.region}", field="township"
        )
    recipient, project = command.recipient_organisation_id, command.project
    if command.match_id:
        recipient = _funded_match(session, org, command.match_id, command.amount).need_organisation_id
    if command.project_id and command.budget_line:
        title = _funded_line(session, org, fund, command)  # checked even when the name is given
        project = project or title
    try:
        share, balance = fund_ledger.allocate(account.balance(), command.amount, key=command.share)
    except fund_ledger.LedgerRefusal as refusal:
        raise _refused(refusal) from None
    account.set_balance(share)
    allocation = FundAllocation(
        id=new_event_id(),
        fund_id=fund.id,
        share=command.share,
        amount=balance.amount,
        released=balance.released,
        disbursed=balance.disbursed,
        repaid=balance.repaid,
        allocated_on=command.allocated_on,
        township=command.township,
        purpose=command.purpose,
        recipient_organisation_id=recipient,
        recipient_name=command.recipient_name,
        match_id=command.match_id,
        project=project,
        project_id=command.project_id,
        budget_line=command.budget_line,
    )
    session.add(allocation)
    event = FundAllocated(
        fund_id=fund.id,
        organisation_id=org.id,
        version=fund.version,
        allocation_id=allocation.id,
        share=allocation.share,
        amount=allocation.amount,
        allocated_on=allocation.allocated_on,
        township=allocation.township,
        purpose=allocation.purpose,
        recipient_organisation_id=recipient,
        recipient_name=allocation.recipient_name,
        match_id=allocation.match_id,
        project=allocation.project,
        project_id=allocation.project_id,
        budget_line=allocation.budget_line,
    )
    _commit(uow, org, fund, "allocated", event)
    return allocation


def disburse(
    uow: UnitOfWork, org: Organisation, fund_id: str, allocation_id: str, command: DisbursementCreate
) -> FundAllocation:
    """Pay part of an allocation out against evidence: never beyond the allocation, nor beyond
    what its share has received."""
    fund = _claim_next_entry(uow.session, org, fund_id)
    allocation = _allocation(uow.session, fund, allocation_id)
    account = _share(fund, allocation.share, "share")
    try:
        share, balance = fund_ledger.disburse(
            account.balance(), allocation.balance(), command.amount, key=allocation.share
        )
    except fund_ledger.LedgerRefusal as refusal:
        raise _refused(refusal) from None
    account.set_balance(share)
    allocation.set_balance(balance)
    event = FundDisbursed(
        fund_id=fund.id,
        organisation_id=org.id,
        version=fund.version,
        disbursement_id=new_event_id(),
        allocation_id=allocation.id,
        amount=command.amount,
        paid_on=command.paid_on,
        evidence=command.evidence,
    )
    _commit(uow, org, fund, "disbursed", event)
    return allocation


def give_back(
    uow: UnitOfWork, org: Organisation, fund_id: str, allocation_id: str, command: ReturnCreate
) -> FundAllocation:
    """Money of an allocation goes back to its share: repaid, or an undisbursed part released."""
    fund = _claim_next_entry(uow.session, org, fund_id)
    allocation = _allocation(uow.session, fund, allocation_id)
    account = _share(fund, allocation.share, "share")
    try:
        share, balance = fund_ledger.give_back(
            account.balance(), allocation.balance(), command.amount, command.return_kind
        )
    except fund_ledger.LedgerRefusal as refusal:
        raise _refused(refusal) from None
    account.set_balance(share)
    allocation.set_balance(balance)
    event = FundReturned(
        fund_id=fund.id,
        organisation_id=org.id,
        version=fund.version,
        return_id=new_event_id(),
        allocation_id=allocation.id,
        return_kind=command.return_kind,
        amount=command.amount,
        returned_on=command.returned_on,
        reason=command.reason,
    )
    _commit(uow, org, fund, "returned", event)
    return allocation
