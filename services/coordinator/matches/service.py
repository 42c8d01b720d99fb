"""Keeps the coordinator's proposals optimal as the book changes, one partition at a time.

A partition is the top category branch of the needs and the county they lie in
(``produce:610124``). Every event that can change the best allocation of a partition
re-solves just that partition: the needs in it, with what they still need beyond matches
that already hold capacity, against every offer that can serve them, with what the offer
has left after its matches elsewhere. Proposals that survive unchanged are kept; the others
are withdrawn and the new ones proposed, each with an explanation. Match ids derive from the
causing event, so the same history yields the same matches.
"""

import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, Text, and_, bindparam, cast, func, or_, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookNeed, BookOffer, BookOfferArea, SharedOffer
from services.coordinator.book.queries import code_starts_with, in_category, unindexed
from services.coordinator.journal.service import Cause, publish
from services.coordinator.matches.lifecycle import (
    ACTIVE,
    REFUSED,
    MatchStatus,
    check_transition,
    holds_capacity,
)
from services.coordinator.matches.models import DirtyPartition, Match
from services.coordinator.matching import Allocation, NeedItem, OfferItem, Party, allocate
from services.coordinator.matching.allocation import FairSplit
from services.coordinator.matching.candidates import candidate_pairs
from services.coordinator.matching.explanation import explain
from services.coordinator.matching.filters import REGION_RULES
from services.coordinator.matching.reach import regions_beyond
from services.coordinator.matching.reconciliation import REPLACED, WINDOW_ENDED, StandingProposal, reconcile
from services.coordinator.registry.models import RegisteredOrganisation
from shared.db import add_row, rows_in_bulk, transaction_set
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events.data import MatchData, OfferData, OfferShared
from shared.metrics import MATCH_SOLVE_SECONDS
from shared.regions import significant_prefix
from shared.taxonomy import SERVES, is_within, root_of
from shared.units import base_factor

__all__ = [
    "CREATED_MATCHES",
    "RESOLVE_DUE",
    "MatchPolicy",
    "ResolveAt",
    "base_quantity",
    "change_status",
    "end_ended_windows",
    "ended_proposals",
    "expire_due",
    "in_unit",
    "match_data",
    "need_item",
    "nudge",
    "offer_categories",
    "offer_item",
    "parties_of",
    "partition_of",
    "partitions_for_offer",
    "publish_match",
    "record_answer",
    "record_delivery",
    "resolve",
    "resolve_all",
    "resolve_changed",
    "resolve_dirty",
    "withdraw",
    "withdraw_for_listing",
]

CREATED_MATCHES = "sifang.created_matches"  # session.info key: ids of matches proposed in it
_NAMESPACE = uuid.UUID("5b1c3f0e-8a52-4d0e-9f57-4c1f5a9d2e11")


ResolveAt = Literal["event", "tick"]
RESOLVE_DUE = "sifang.resolve_due"  # session.info key: a re-solve point should be requested


@dataclass(frozen=True)
class MatchPolicy:
    fair_split: FairSplit = "max_min"
    response_time: timedelta = timedelta(hours=72)
    keep_best: int | None = 16  # each listing's best pairs kept for the allocation (None: all)
    resolve_at: ResolveAt = "event"  # re-solve a changed listing's partitions at once, or at a tick
    resolve_batch: int = 64  # partitions one re-solve point solves at most
    regions: tuple[str, ...] = ()  # the counties this coordinator owns (empty: all)
    owner: str = "coordinator"  # its consumer, named in what it tells other partitions
    solve_threads: int = 1  # partitions of one batch solved side by side (see resolve_all)


def partition_of(category: str, region: str) -> str:
    return f"{root_of(category)}:{region[:6]}"


@lru_cache(maxsize=1024)
def _roots_served_by(offer_category: str) -> frozenset[str]:
    roots = {root_of(offer_category)}
    roots |= {
        root for root, branches in SERVES.items() if any(is_within(offer_category, b) for b in branches)
    }
    return frozenset(roots)


def _area_prefixes(county: str) -> list[str]:
    return [county[:2], county[:4], county]


def partitions_for_offer(session: Session, offer: BookOffer, *, with_matches: bool = True) -> set[str]:
    """The partitions an offer can take part in, and those where it has matches (unless the
    caller knows them already: ``with_matches=False``)."""
    roots = _roots_served_by(offer.category)
    served = tuple(sorted(root for root in roots if REGION_RULES.get(root) != "origin"))
    sourced = tuple(sorted(root for root in roots if REGION_RULES.get(root) == "origin"))
    queries: list[Select[str, str]] = []
    if served:
        prefixes = tuple(sorted({significant_prefix(a) for a in offer.service_area}))
        queries.append(_needs_served_within(served, prefixes))
    if sourced:
        queries.extend(_needs_sourcing_from(sourced, offer.region[:6]))
    found = {
        partition_of(category, region) for query in queries for category, region in session.execute(query)
    }
    if not with_matches:
        return found
    return found | set(session.scalars(_partitions_of_offer_matches(), {"offer_id": offer.id}))


# The statements of ``partitions_for_offer``, built once for each category and area they read.
@lru_cache(maxsize=8192)
def _needs_served_within(roots: tuple[str, ...], prefixes: tuple[str, ...]) -> Select[str, str]:
    """The open needs under ``roots`` in an area (``prefixes``) an offer serves."""
    return (
        select(BookNeed.category, BookNeed.region)
        .where(BookNeed.status == "open", or_(*(in_category(BookNeed.category, r) for r in roots)))
        .where(or_(*(code_starts_with(BookNeed.region, p) for p in prefixes)))
        .distinct()
    )


@lru_cache(maxsize=8192)
def _needs_sourcing_from(roots: tuple[str, ...], county: str) -> tuple[Select[str, str], ...]:
    """The open needs under ``roots`` whose sourcing area holds the county of an offer's origin:
    in the county, or province- or city-wide (their partitions are named by the six-digit code
    of the province or city) — two queries, each answered from the (status, region) index,
    rather than one OR."""
    sourcing = select(BookNeed.category, BookNeed.region).where(
        BookNeed.status == "open", or_(*(in_category(BookNeed.category, r) for r in roots))
    )
    return tuple(
        sourcing.where(where).distinct()
        for where in (
            code_starts_with(BookNeed.region, county),
            BookNeed.region.in_((f"{county[:2]}0000", f"{county[:4]}00")),
        )
    )


@lru_cache(maxsize=1)
def _partitions_of_offer_matches() -> Select[str]:
    return (
        select(Match.partition)
        .where(Match.offer_id == bindparam("offer_id"), Match.status.in_(ACTIVE))
        .distinct()
    )


def _base(quantity: Decimal, unit: str) -> float:
    return float(quantity) * base_factor(unit)[0]


def in_unit(base: float, unit: str) -> Decimal:
    """``base`` base units in ``unit``, rounded down to 0.0001."""
    return Decimal(str(base / base_factor(unit)[0])).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)


def need_item(row: BookNeed, party: Party, remaining: float) -> NeedItem:
    """A need of the book as the matching rules see it, with ``remaining`` base units."""
    return NeedItem(
        id=row.id,
        party=party,
        category=row.category,
        remaining=remaining,
        unit=row.unit,
        region=row.region,
        window_start=row.window_start,
        window_end=row.window_end,
        attributes=row.attributes,
        published_at=row.published_at,
    )


def offer_item(row: BookOffer, remaining: float, fulfilment_rate: float = 0.5) -> OfferItem:
    """An offer of the book as the matching rules see it, with ``remaining`` base units."""
    return OfferItem(
        id=row.id,
        organisation_id=row.organisation_id,
        category=row.category,
        remaining=remaining,
        unit=row.unit,
        region=row.region,
        service_area=tuple(row.service_area),
        window_start=row.window_start,
        window_end=row.window_end,
        attributes=row.attributes,
        fulfilment_rate=fulfilment_rate,
    )


def base_quantity(row: BookNeed | BookOffer) -> float:
    """A listing's whole quantity in base units."""
    return _base(row.quantity, row.unit)


def resolve(session: Session, partition: str, policy: MatchPolicy, cause: Cause) -> None:
    """Re-solve one partition and publish what changed (timed: ``sifang_match_solve_seconds``)."""
    with MATCH_SOLVE_SECONDS.time():
        book = _read(session, partition)
        _write(session, book, _solve(book, policy, cause.time.date()), policy, cause)


@dataclass
class PartitionBook:
    """What a re-solve of one partition reads before it solves: its open needs and the offers
    that serve it (rows and the matching core's items, with what each still needs or has),
    the pairs a party refused, and the proposals standing in it."""

    partition: str
    needs: list[BookNeed]
    offers: list[BookOffer]
    need_items: list[NeedItem]
    offer_items: list[OfferItem]
    excluded: frozenset[tuple[str, str]]
    standing: dict[str, StandingProposal]

    @property
    def offer_ids(self) -> set[str]:
        return {offer.id for offer in self.offers}

    @property
    def touched_offers(self) -> set[str]:
        """The offers its write may change what is used of: those in its book, and those of
        its standing proposals (an offer that left the partition has its proposals withdrawn)."""
        return self.offer_ids | {proposal.offer_id for proposal in self.standing.values()}


# The statements a re-solve runs are built once, on first use, with what varies as parameters:
# building one costs about as much as running it on a county's book. Of the matches it reads
# columns only (a match's explanation and history are not needed to re-solve), and of who
# accepted a proposal only whether anyone did, counted by the database (not a JSON list decoded
# for each of a partition's thousands of matches). ``accepted_by`` is always a list (NOT NULL,
# written only by this module): PostgreSQL's json_array_length refuses anything else.
def _accepted() -> ColumnElement[bool]:
    return func.json_array_length(Match.accepted_by) > 0


@lru_cache(maxsize=1)
def _matches_of_needs() -> Select[str, str, MatchStatus, bool, float]:
    return select(Match.need_id, Match.offer_id, Match.status, _accepted(), Match.base_quantity).where(
        Match.need_id.in_(bindparam("need_ids", expanding=True)), Match.status.in_(sorted(ACTIVE | REFUSED))
    )


@lru_cache(maxsize=1)
def _matches_of_offers() -> Select[str, MatchStatus, bool, float, str]:
    return select(Match.offer_id, Match.status, _accepted(), Match.base_quantity, Match.partition).where(
        Match.offer_id.in_(bindparam("offer_ids", expanding=True)), Match.status.in_(sorted(ACTIVE))
    )


@lru_cache(maxsize=1)
def _proposed_in() -> Select[str, str, str, float, bool]:
    return select(Match.id, Match.need_id, Match.offer_id, Match.base_quantity, _accepted()).where(
        Match.partition == bindparam("partition"), Match.status == MatchStatus.PROPOSED
    )


def _read(session: Session, partition: str) -> PartitionBook:
    root, county = partition.split(":")
    needs = list(session.scalars(_open_needs_query(root, county)))
    need_ids = [n.id for n in needs]
    held_by_need: dict[str, float] = defaultdict(float)
    excluded: set[tuple[str, str]] = set()
    if needs:
        of_needs = session.execute(_matches_of_needs(), {"need_ids": need_ids})
        for need_id, offer_id, status, accepted, quantity in of_needs:
            if holds_capacity(status, accepted):
                held_by_need[need_id] += quantity
            if status in REFUSED:
                excluded.add((need_id, offer_id))

    offers = _offers_for(session, root, county)
    offer_ids = [o.id for o in offers]
    used_by_offer: dict[str, float] = defaultdict(float)
    if offers:
        of_offers = session.execute(_matches_of_offers(), {"offer_ids": offer_ids})
        for offer_id, status, accepted, quantity, elsewhere in of_offers:
            if holds_capacity(status, accepted) or elsewhere != partition:
                used_by_offer[offer_id] += quantity

    parties = parties_of(session, needs)
    records = _fulfilment_rates(session, {o.organisation_id for o in offers})
    return PartitionBook(
        partition=partition,
        needs=needs,
        offers=offers,
        need_items=[
            need_item(n, parties[n.organisation_id], max(0.0, _base(n.quantity, n.unit) - held_by_need[n.id]))
            for n in needs
        ],
        offer_items=[
            offer_item(
                o,
                max(0.0, _base(o.quantity, o.unit) - used_by_offer[o.id]),
                records.get(o.organisation_id, 0.5),
            )
            for o in offers
        ],
        excluded=frozenset(excluded),
        standing={
            match_id: StandingProposal(match_id, need_id, offer_id, quantity, accepted)
            for match_id, need_id, offer_id, quantity, accepted in session.execute(
                _proposed_in(), {"partition": partition}
            )
        },
    )


def _solve(book: PartitionBook, policy: MatchPolicy, today: date) -> dict[tuple[str, str], Allocation]:
    """The partition's optimal fair allocation, by (need id, offer id). Pure: it reads only
    ``book``, so partitions that share no offer may be solved side by side."""
    candidates = candidate_pairs(
        book.need_items, book.offer_items, today=today, excluded=book.excluded, keep=policy.keep_best
    )
    proposed_now = {(m.need_id, m.offer_id): m.quantity for m in book.standing.values() if not m.accepted}
    return {
        (a.candidate.need.id, a.candidate.offer.id): a
        for a in allocate(candidates, fair_split=policy.fair_split, standing=proposed_now)
    }


def _write(
    session: Session,
    book: PartitionBook,
    allocations: dict[tuple[str, str], Allocation],
    policy: MatchPolicy,
    cause: Cause,
) -> None:
    """Withdraw, amend and propose what the allocation changed, and tell other regions."""
    needs, offers = book.needs, book.offers
    outcome = reconcile(
        book.standing.values(),
        allocations,
        open_needs={n.id for n in needs},
        open_offers=book.offer_ids,
        ended={
            listing.id
            for listing in (*needs, *offers)
            if listing.window_end is not None and listing.window_end < cause.time.date()
        },
    )
    ids = [w.match_id for w in outcome.withdrawn] + [a.match_id for a in outcome.amended]
    loaded = {m.id: m for m in session.scalars(select(Match).where(Match.id.in_(ids)))} if ids else {}
    books = {n.id: n for n in needs} | {o.id: o for o in offers}
    with rows_in_bulk(session):  # new proposals and every event: one INSERT per table
        for withdrawal in outcome.withdrawn:
            change_status(
                session, loaded[withdrawal.match_id], MatchStatus.WITHDRAWN, withdrawal.reason, policy, cause
            )
        for amendment in outcome.amended:
            _amend(session, loaded[amendment.match_id], amendment.allocation, books, policy, cause)
        for allocation in outcome.proposed:
            _propose(session, book.partition, allocation, books, policy, cause)
    share_offers(session, offers, policy, cause)


def share_offers(session: Session, offers: Iterable[BookOffer], policy: MatchPolicy, cause: Cause) -> None:
    """Tell the counties of other partitions that ``offers`` serve what remains of each
    (``offer.shared``), when that, the offer or the regions it reaches changed since last told;
    a region it no longer reaches is told it is gone. Only this partition allocates them; the
    others show them to their needs (see ``matching/reach.py``)."""
    if not policy.regions:
        return  # one coordinator owns every county: nobody to tell
    offers = list(offers)
    ids = [offer.id for offer in offers]
    previously = {
        row.offer_id: row for row in session.scalars(select(SharedOffer).where(SharedOffer.offer_id.in_(ids)))
    }
    for offer in offers:
        beyond = regions_beyond(offer.service_area, policy.regions)
        told = previously.get(offer.id)
        if not beyond and told is None:
            continue
        used = session.scalar(
            select(func.coalesce(func.sum(Match.base_quantity), 0.0)).where(
                Match.offer_id == offer.id, Match.status.in_(ACTIVE)
            )
        )
        left = in_unit(max(0.0, base_quantity(offer) - float(used or 0)), offer.unit)
        remaining = left if offer.status == "open" else Decimal(0)
        state = (offer.version, offer.status, remaining, beyond)
        if told is not None and (told.version, told.status, told.remaining, sorted(told.regions)) == state:
            continue
        gone = sorted(set(told.regions) - set(beyond)) if told is not None else []
        if told is None:
            told = SharedOffer(offer_id=offer.id)
            session.add(told)
        told.version, told.status, told.remaining, told.regions = (
            offer.version,
            offer.status,
            remaining,
            beyond,
        )
        data = offer_data(offer)
        for region in [*beyond, *gone]:
            serving = offer.status == "open" and region in beyond
            notice = OfferShared(
                offer_id=offer.id,
                offer=data,
                status="open" if serving else "withdrawn",
                remaining=remaining if serving else Decimal(0),
                owner=policy.owner,
            )
            # One event may tell an offer's state several times (each partition it solves): the
            # n-th notice under a cause has its own id, the same in a replay. Not logged here: a
            # partition hears its own notices on a city's or province's subject.
            cause.notices += 1
            parts = ("offer", "shared", offer.id, region, str(cause.notices))
            publish(
                session, "sifang.offer.shared.v1", notice, region, cause=cause, id_parts=parts, logged=False
            )


def offer_data(row: BookOffer) -> OfferData:
    """The book's offer as event data."""
    return OfferData(
        offer_id=row.id,
        organisation_id=row.organisation_id,
        category=row.category,
        title=row.title,
        description=row.description,
        quantity=row.quantity,
        unit=row.unit,
        region=row.region,
        service_area=list(row.service_area),
        attributes=row.attributes,
        window_start=row.window_start,
        window_end=row.window_end,
        version=row.version,
    )


def resolve_all(session: Session, partitions: set[str], policy: MatchPolicy, cause: Cause) -> None:
    """Re-solve each of ``partitions``, in a stable order, with the same result as one after
    another: each partition's book is read and its proposals written in that order, in this
    thread; the solves between run on up to ``policy.solve_threads`` threads (HiGHS and numpy
    release the GIL). A partition whose offers are shared with one read but not yet written
    waits for those to be written and is read again, so it sees what they took of them or gave
    back (an offer's standing proposals count as its own: a partition an offer left withdraws
    them)."""
    ordered = sorted(partitions)
    if policy.solve_threads < 2 or len(ordered) < 2:
        for partition in ordered:
            resolve(session, partition, policy, cause)
        return
    today = cause.time.date()
    waiting: deque[tuple[PartitionBook, Future[tuple[dict[tuple[str, str], Allocation], float]], float]]
    waiting = deque()

    def write_oldest() -> None:
        """The oldest solve's proposals written, timed as ``resolve`` times one partition (a
        solve or write that raises too; a solve that raised counts the time waited for it)."""
        book, solving, read_seconds = waiting.popleft()
        started = time.perf_counter()
        solve_seconds = 0.0
        try:
            allocations, solve_seconds = solving.result()
            started = time.perf_counter()
            _write(session, book, allocations, policy, cause)
        finally:
            MATCH_SOLVE_SECONDS.observe(read_seconds + solve_seconds + time.perf_counter() - started)

    with ThreadPoolExecutor(policy.solve_threads, thread_name_prefix="sifang-solve") as solver:
        for partition in ordered:
            started = time.perf_counter()
            book = _read(session, partition)
            if any(book.touched_offers & earlier.touched_offers for earlier, _, _ in waiting):
                while waiting:
                    write_oldest()
                started = time.perf_counter()
                book = _read(session, partition)
            waiting.append(
                (book, solver.submit(_timed_solve, book, policy, today), time.perf_counter() - started)
            )
            while len(waiting) > policy.solve_threads:
                write_oldest()
        while waiting:
            write_oldest()


def _timed_solve(
    book: PartitionBook, policy: MatchPolicy, today: date
) -> tuple[dict[tuple[str, str], Allocation], float]:
    started = time.perf_counter()
    return _solve(book, policy, today), time.perf_counter() - started


def resolve_changed(session: Session, partitions: set[str], policy: MatchPolicy, cause: Cause) -> None:
    """The partitions a need or offer event changed: re-solved now (``resolve_at="event"``), or
    marked dirty for the next re-solve point. A point is requested (the projection publishes it)
    when none was waiting: while any partition waits, a point is on its way, since the point
    that leaves some waiting asks for the next itself (``resolve_dirty``); the clock's periodic
    check asks again should one ever go missing."""
    if policy.resolve_at == "event":
        resolve_all(session, partitions, policy, cause)
        return
    waiting = transaction_set(session, _WAITING)
    unknown = partitions - waiting
    if not unknown:
        return  # all of them wait already: their point is on its way
    marked = set(
        session.scalars(select(DirtyPartition.partition).where(DirtyPartition.partition.in_(unknown)))
    )
    any_waiting = (
        bool(waiting or marked) or session.scalar(select(DirtyPartition.partition).limit(1)) is not None
    )
    session.add_all(DirtyPartition(partition=p, since=cause.time) for p in sorted(unknown - marked))
    waiting |= unknown
    if not any_waiting:  # else their point is on its way already: it solves these too
        session.info[RESOLVE_DUE] = True


# session.info: (transaction, the partitions known to be waiting in it), so that a batch's
# events ask the database only about partitions none of them has marked yet
_WAITING = "sifang.waiting_partitions"


def resolve_dirty(session: Session, policy: MatchPolicy, cause: Cause) -> None:
    """At a re-solve point: solve the partitions waiting for one, oldest first, at most
    ``policy.resolve_batch``; if more wait, the projection asks for another point."""
    waiting = list(
        session.scalars(
            select(DirtyPartition)
            .order_by(DirtyPartition.since, DirtyPartition.partition)
            .limit(policy.resolve_batch + 1)  # one more: only to know whether any are left
        )
    )
    now = waiting[: policy.resolve_batch]
    for dirty in now:
        session.delete(dirty)
    transaction_set(session, _WAITING).clear()  # what this transaction knew to be waiting is not any more
    resolve_all(session, {d.partition for d in now}, policy, cause)
    if len(waiting) > len(now):
        session.info[RESOLVE_DUE] = True


def offer_categories(root: str) -> ColumnElement[bool]:
    """Offers of a category that can serve needs under the top branch ``root``."""
    branches = sorted({root, *SERVES.get(root, ())})
    return or_(*(in_category(BookOffer.category, b) for b in branches), BookOffer.category == root)


def _offers_for(session: Session, root: str, county: str) -> list[BookOffer]:
    return list(session.scalars(_open_offers_query(root, county)))


# A partition's reads of the book, built once per partition (a province has some thousands).
@lru_cache(maxsize=8192)
def _open_needs_query(root: str, county: str) -> Select[BookNeed]:
    return (
        select(BookNeed)
        .where(BookNeed.status == "open", code_starts_with(BookNeed.region, county))
        .where(in_category(BookNeed.category, root))
        .order_by(BookNeed.id)
    )


@lru_cache(maxsize=8192)
def _open_offers_query(root: str, county: str) -> Select[BookOffer]:
    covering = select(BookOfferArea.offer_id).where(
        or_(BookOfferArea.prefix.in_(_area_prefixes(county)), code_starts_with(BookOfferArea.prefix, county))
    )
    where = (
        and_(BookOffer.status == "open", code_starts_with(BookOffer.region, significant_prefix(county)))
        if REGION_RULES.get(root) == "origin"
        # the offers whose area covers the county, looked up by id: few, where "open" is most
        else and_(unindexed(BookOffer.status) == "open", BookOffer.id.in_(covering))
    )
    # Offers of a broader category (``training``) serve narrower needs (``training.livestream``).
    return select(BookOffer).where(where).where(offer_categories(root)).order_by(BookOffer.id)


@lru_cache(maxsize=1)
def _organisations() -> Select[str, str, str]:
    # the columns a party needs, not the row (its contact is JSON, decoded for nothing)
    return select(
        RegisteredOrganisation.id, RegisteredOrganisation.kind, RegisteredOrganisation.region
    ).where(RegisteredOrganisation.id.in_(bindparam("org_ids", expanding=True)))


@lru_cache(maxsize=1)
def _offer_attributes_of() -> Select[str, dict[str, Any]]:
    # Only offers whose attributes name certifications are decoded: an organisation may hold
    # hundreds of offers, few of them certified. Every writer of the book stores json.dumps's
    # text through SQLAlchemy, which writes the ASCII key verbatim (PostgreSQL's json keeps the
    # text as given: a row written by hand with the key escaped would not be found). Whether
    # the key is at the top and its list not empty is still decided in Python.
    return select(BookOffer.organisation_id, BookOffer.attributes).where(
        BookOffer.organisation_id.in_(bindparam("org_ids", expanding=True)),
        cast(BookOffer.attributes, Text).contains('"certifications"', autoescape=True),
    )


@lru_cache(maxsize=1)
def _provider_records() -> Select[str, MatchStatus, int]:
    return (
        select(Match.offer_organisation_id, Match.status, func.count())
        .where(
            Match.offer_organisation_id.in_(bindparam("org_ids", expanding=True)),
            Match.status.in_(("confirmed", "fulfilled")),
        )
        .group_by(Match.offer_organisation_id, Match.status)
    )


def parties_of(session: Session, needs: Iterable[BookNeed]) -> dict[str, Party]:
    needs = list(needs)
    org_ids = sorted({n.organisation_id for n in needs})
    registry = {
        org_id: (kind, region)
        for org_id, kind, region in session.execute(_organisations(), {"org_ids": org_ids})
    }
    certifications: dict[str, set[str]] = defaultdict(set)
    for organisation_id, attributes in session.execute(_offer_attributes_of(), {"org_ids": org_ids}):
        certifications[organisation_id] |= set(attributes.get("certifications") or [])
    for need in needs:
        certifications[need.organisation_id] |= set(need.attributes.get("certifications") or [])
    parties: dict[str, Party] = {}
    for need in needs:
        kind, region = registry.get(need.organisation_id, (need.kind, need.region))
        parties[need.organisation_id] = Party(
            organisation_id=need.organisation_id,
            kind=kind,
            region=region,
            certifications=frozenset(certifications[need.organisation_id]),
        )
    return parties


def _fulfilment_rates(session: Session, org_ids: set[str]) -> dict[str, float]:
    """Each organisation's record as a provider: (fulfilled + 1) / (confirmed + 2)."""
    if not org_ids:
        return {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for org, status, count in session.execute(_provider_records(), {"org_ids": sorted(org_ids)}):
        counts[org][status] = count
    return {org: (c["fulfilled"] + 1) / (c["fulfilled"] + c["confirmed"] + 2) for org, c in counts.items()}


def _propose(
    session: Session,
    partition: str,
    allocation: Allocation,
    books: dict[str, Any],
    policy: MatchPolicy,
    cause: Cause,
) -> None:
    need: BookNeed = books[allocation.candidate.need.id]
    offer: BookOffer = books[allocation.candidate.offer.id]
    quantities = _in_units(allocation, need, offer)
    if quantities is None:
        return
    quantity, offer_quantity = quantities
    created = session.info.setdefault(CREATED_MATCHES, set())
    match_id = str(uuid.uuid5(_NAMESPACE, f"{cause.event_id}/{need.id}/{offer.id}"))
    again = 1
    while match_id in created:  # the pair proposed anew by a second re-solve under one cause
        again += 1
        match_id = str(uuid.uuid5(_NAMESPACE, f"{cause.event_id}/{need.id}/{offer.id}/{again}"))
    match = NewMatch(
        id=match_id,
        partition=partition,
        need_id=need.id,
        offer_id=offer.id,
        need_organisation_id=need.organisation_id,
        offer_organisation_id=offer.organisation_id,
        category=need.category,
        region=need.region,
        quantity=quantity,
        unit=need.unit,
        offer_quantity=offer_quantity,
        offer_unit=offer.unit,
        base_quantity=allocation.quantity,
        score=round(allocation.candidate.score, 6),
        status=MatchStatus.PROPOSED,
        accepted_by=[],
        fulfilled_quantity=Decimal(0),
        explanation=_explanation(allocation, quantity, need, offer),
        reason="",
        proposed_at=cause.time,
        expires_at=cause.time + policy.response_time,
        updated_at=cause.time,
        version=0,
    )
    created.add(match.id)
    publish_match(session, match, "proposed", cause)
    add_row(session, Match, **vars(match))


@dataclass
class NewMatch:
    """A proposal as first written: the columns of a :class:`Match`, without the ORM's
    bookkeeping (a partition's first solve proposes thousands)."""

    id: str
    partition: str
    need_id: str
    offer_id: str
    need_organisation_id: str
    offer_organisation_id: str
    category: str
    region: str
    quantity: Decimal
    unit: str
    offer_quantity: Decimal
    offer_unit: str
    base_quantity: float
    score: float
    status: MatchStatus
    accepted_by: list[str]
    fulfilled_quantity: Decimal
    explanation: dict[str, Any]
    reason: str
    proposed_at: datetime
    expires_at: datetime | None
    updated_at: datetime
    version: int


def _in_units(allocation: Allocation, need: BookNeed, offer: BookOffer) -> tuple[Decimal, Decimal] | None:
    """The allocated quantity in the need's unit and in the offer's; None if either is nothing."""
    quantity = in_unit(allocation.quantity, need.unit)
    offer_quantity = in_unit(allocation.quantity, offer.unit)
    return (quantity, offer_quantity) if quantity > 0 and offer_quantity > 0 else None


def _explanation(
    allocation: Allocation, quantity: Decimal, need: BookNeed, offer: BookOffer
) -> dict[str, Any]:
    return explain(
        allocation,
        quantity=format(quantity.normalize(), "f"),
        unit=need.unit,
        need_title=need.title,
        offer_title=offer.title,
        unit_factor=base_factor(need.unit)[0],
    )


def _amend(
    session: Session,
    match: Match,
    allocation: Allocation,
    books: dict[str, Any],
    policy: MatchPolicy,
    cause: Cause,
) -> None:
    """Give an unanswered proposal its pair's new share (``match.amended``); its id, its time
    to answer and its parties stay. A share that rounds to nothing in a unit withdraws it."""
    need: BookNeed = books[allocation.candidate.need.id]
    offer: BookOffer = books[allocation.candidate.offer.id]
    quantities = _in_units(allocation, need, offer)
    if quantities is None:
        change_status(session, match, MatchStatus.WITHDRAWN, REPLACED, policy, cause)
        return
    quantity, offer_quantity = quantities
    match.quantity = quantity
    match.offer_quantity = offer_quantity
    match.base_quantity = allocation.quantity
    match.score = round(allocation.candidate.score, 6)
    match.explanation = _explanation(allocation, quantity, need, offer)
    match.updated_at = cause.time
    publish_match(session, match, "amended", cause)


def change_status(
    session: Session, match: Match, status: MatchStatus, reason: str, policy: MatchPolicy, cause: Cause
) -> None:
    """Move ``match`` to ``status`` (an allowed transition only) and publish it."""
    check_transition(match.id, match.status, status)
    match.status = status
    match.reason = reason
    match.updated_at = cause.time
    publish_match(session, match, status.value, cause)


def match_data(match: "Match | NewMatch") -> MatchData:
    return MatchData(
        match_id=match.id,
        need_id=match.need_id,
        offer_id=match.offer_id,
        need_organisation_id=match.need_organisation_id,
        offer_organisation_id=match.offer_organisation_id,
        category=match.category,
        quantity=match.quantity,
        unit=match.unit,
        offer_quantity=match.offer_quantity,
        offer_unit=match.offer_unit,
        score=match.score,
        status=match.status.value,
        accepted_by=list(match.accepted_by),
        fulfilled_quantity=match.fulfilled_quantity,
        proposed_at=match.proposed_at,
        expires_at=match.expires_at,
        reason=match.reason,
        explanation=match.explanation,
        version=match.version,
    )


def publish_match(session: Session, match: "Match | NewMatch", verb: str, cause: Cause) -> None:
    """Publish the match's current state as ``sifang.match.<verb>`` through the outbox, as its
    next version."""
    match.version += 1
    publish(
        session,
        f"sifang.match.{verb}.v1",
        match_data(match),
        match.region,
        cause=cause,
        # a proposal may be amended twice under one cause (two re-solves): the version tells them apart
        id_parts=(match.id, verb, str(match.version)) if verb == "amended" else (match.id, verb),
    )


def expire_due(session: Session, policy: MatchPolicy, cause: Cause) -> int:
    """Expire proposals nobody answered by ``cause.time``, return their quantities to the pool."""
    due = list(
        session.scalars(
            select(Match)
            .where(Match.status == MatchStatus.PROPOSED, Match.expires_at <= cause.time)
            .order_by(Match.id)
        )
    )
    if not due:
        return 0
    for match in due:
        change_status(
            session, match, MatchStatus.EXPIRED, "no answer within the response time", policy, cause
        )
    resolve_all(session, {m.partition for m in due}, policy, cause)
    return len(due)


def ended_proposals(today: date) -> Select[Match]:
    """Proposals whose need's or offer's window ended before ``today``."""
    return (
        select(Match)
        .where(Match.status == MatchStatus.PROPOSED)
        .where(
            or_(
                Match.need_id.in_(select(BookNeed.id).where(BookNeed.window_end < today)),
                Match.offer_id.in_(select(BookOffer.id).where(BookOffer.window_end < today)),
            )
        )
        .order_by(Match.id)
    )


def end_ended_windows(session: Session, policy: MatchPolicy, cause: Cause) -> int:
    """A window that ended ends matching: its proposals are withdrawn, saying so, even those one
    party accepted already, and their partitions are re-solved without them."""
    due = list(session.scalars(ended_proposals(cause.time.date())))
    for match in due:
        change_status(session, match, MatchStatus.WITHDRAWN, WINDOW_ENDED, policy, cause)
    resolve_all(session, {m.partition for m in due}, policy, cause)
    return len(due)


def _window_ended(session: Session, match: Match, today: date) -> bool:
    need, offer = session.get(BookNeed, match.need_id), session.get(BookOffer, match.offer_id)
    return any(
        listing is not None and listing.window_end is not None and listing.window_end < today
        for listing in (need, offer)
    )


# -- what the parties and the coordinators do with a match ------------------------------------


def _party_match(session: Session, match_id: str, organisation_id: str) -> Match:
    match = session.get(Match, match_id)
    if match is None:
        raise NotFound(f"no match {match_id}", field="match_id")
    if organisation_id not in (match.need_organisation_id, match.offer_organisation_id):
        raise Forbidden(
            f"organisation {organisation_id} is not a party to match {match_id}", field="match_id"
        )
    return match


def record_answer(
    session: Session,
    match_id: str,
    organisation_id: str,
    *,
    accepted: bool,
    reason: str,
    policy: MatchPolicy,
    cause: Cause,
    version: int | None = None,
) -> None:
    """A party accepts or declines a proposal. An answer that comes too late (the proposal
    expired or was withdrawn) changes nothing; it stays in the log. Nor does an acceptance of
    an older ``version`` of it (its quantity was amended after the party saw it): the party's
    service shows that its answer is outdated. A decline counts whatever the version."""
    match = _party_match(session, match_id, organisation_id)
    if match.status is not MatchStatus.PROPOSED:
        return
    if accepted and version is not None and version != match.version:
        return
    if not accepted:
        who = "the needing" if organisation_id == match.need_organisation_id else "the offering"
        why = f"declined by {who} organisation: {reason or 'no reason given'}"
        change_status(session, match, MatchStatus.DECLINED, why, policy, cause)
        resolve_all(session, {match.partition}, policy, cause)
        return
    if organisation_id in match.accepted_by:
        return
    if _window_ended(session, match, cause.time.date()):
        change_status(session, match, MatchStatus.WITHDRAWN, WINDOW_ENDED, policy, cause)
        resolve_all(session, {match.partition}, policy, cause)
        return
    match.accepted_by = sorted({*match.accepted_by, organisation_id})
    match.updated_at = cause.time
    if set(match.accepted_by) == {match.need_organisation_id, match.offer_organisation_id}:
        change_status(session, match, MatchStatus.CONFIRMED, "both parties accepted", policy, cause)


def record_delivery(
    session: Session, match_id: str, organisation_id: str, quantity: Decimal, cause: Cause
) -> None:
    """A party reports a delivery; the match is fulfilled once the whole quantity arrived."""
    match = _party_match(session, match_id, organisation_id)
    if match.status is not MatchStatus.CONFIRMED:
        raise Conflict(
            f"match {match.id} is {match.status}; deliveries need a confirmed match", field="status"
        )
    total = match.fulfilled_quantity + quantity
    if total > match.quantity:
        raise InvalidInput(
            f"delivery brings {total} over the matched {match.quantity} {match.unit}", field="quantity"
        )
    match.fulfilled_quantity = total
    match.updated_at = cause.time
    if total == match.quantity:
        check_transition(match.id, match.status, MatchStatus.FULFILLED)
        match.status = MatchStatus.FULFILLED
        match.reason = "fully delivered"
    session.flush()
    publish_match(session, match, "delivery_recorded", cause)


def _proposal(session: Session, match_id: str) -> Match:
    match = session.get(Match, match_id)
    if match is None:
        raise NotFound(f"no match {match_id!r}", field="match_id")
    if match.status is not MatchStatus.PROPOSED:
        raise Conflict(
            f"match {match_id} is {match.status}: only a proposal can be withdrawn or nudged", field="status"
        )
    return match


def withdraw(
    session: Session, match_id: str, *, coordinator: str, reason: str, policy: MatchPolicy, cause: Cause
) -> None:
    """A coordinator withdraws a proposal; its partition is re-solved without it."""
    match = _proposal(session, match_id)
    change_status(
        session, match, MatchStatus.WITHDRAWN, f"withdrawn by {coordinator}: {reason}", policy, cause
    )
    resolve_all(session, {match.partition}, policy, cause)


def nudge(session: Session, match_id: str, *, coordinator: str, cause: Cause) -> None:
    """Remind both parties: the proposal's state is published again, naming who nudged."""
    match = _proposal(session, match_id)
    match.reason = f"nudged by {coordinator} at {cause.time:%Y-%m-%d %H:%M}"
    match.updated_at = cause.time
    session.flush()
    publish_match(session, match, "proposed", cause)


def withdraw_for_listing(
    session: Session, side: str, listing_id: str, reason: str, policy: MatchPolicy, cause: Cause
) -> set[str]:
    """Withdraw the proposals of a need or offer its party withdrew; returns their partitions."""
    column = Match.need_id if side == "need" else Match.offer_id
    touched: set[str] = set()
    for match in session.scalars(
        select(Match).where(column == listing_id, Match.status == MatchStatus.PROPOSED).order_by(Match.id)
    ):
        change_status(
            session, match, MatchStatus.WITHDRAWN, f"the {side} was withdrawn: {reason}", policy, cause
        )
        touched.add(match.partition)
    return touched
