"""Matching benchmark: ``make bench`` (``python -m benchmarks.bench_matching``).

1. Full solve of a synthetic county book with 1k, 10k and 100k open needs and offers, every
   partition solved by the optimal allocator (on the coordinator's solve threads, and on one)
   and, in the same run on the same candidates, by a greedy matcher (best score first): time
   and objective reached, side by side.
2. Latency from one new need event to its proposals, through the coordinator's projection
   and a SQLite database already holding 100k open items.

Timings are wall-clock on a shared machine: compare the columns of one run, not across runs.
"""

import argparse
import gc
import os
import random
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import sessionmaker

from benchmarks import machine
from services.coordinator.book.models import BookNeed, BookOffer, BookOfferArea
from services.coordinator.matching import (
    Allocation,
    NeedItem,
    OfferItem,
    Party,
    allocate,
    candidates_for,
    greedy_allocate,
    objective,
)
from services.coordinator.matching.candidates import candidate_pairs
from services.coordinator.projection import CoordinatorProjection
from services.coordinator.registry.models import RegisteredOrganisation
from services.migrate import upgrade
from shared.app import freeze_startup_heap
from shared.db import make_engine
from shared.events.catalogue import CATALOGUE
from shared.events.data import NeedData
from shared.events.validation import check_event
from shared.messaging.consumer import Delivery
from shared.units import base_factor

TODAY = date(2026, 11, 23)
KEEP = 16  # the coordinator's default COORDINATOR_KEEP_BEST
SOLVE_THREADS = min(4, os.cpu_count() or 1)  # its default COORDINATOR_SOLVE_THREADS
COUNTIES = [f"61{c:02d}{d:02d}" for c in range(1, 11) for d in range(21, 31)]  # 100 counties
KINDS = {  # need category, offer category, unit choices, quantity range
    "produce": ("produce.fruit.kiwifruit", "produce.fruit.kiwifruit", ["kg", "t", "斤"], (200, 5000)),
    "training": ("training.livestream", "training.livestream", ["人", "seat"], (5, 60)),
    "logistics": ("logistics.cold_chain", "logistics.cold_chain", ["t"], (1, 50)),
    "funding": ("funding.subsidy", "funding.subsidy", ["yuan"], (5000, 200000)),
    "brand": ("brand.design", "brand", ["hour"], (10, 200)),
    "venue": ("venue", "venue", ["hour"], (4, 100)),
}


def synthetic_book(size: int, seed: int = 7) -> tuple[list[NeedItem], list[OfferItem]]:
    rnd = random.Random(seed)
    needs, offers = [], []
    orgs = [f"org{k:06d}" for k in range(max(10, size // 4))]
    for k in range(size):
        root = rnd.choice(list(KINDS))
        need_cat, offer_cat, units, (low, high) = KINDS[root]
        county = rnd.choice(COUNTIES)
        village = f"{county}{rnd.randint(100, 110):03d}{rnd.randint(200, 220):03d}"
        unit = rnd.choice(units)
        quantity = rnd.randint(low, high) / (1000 if unit == "t" and root == "produce" else 1)
        start = TODAY + timedelta(days=rnd.randint(-20, 60))
        org = rnd.choice(orgs)
        if k % 2 == 0:
            # a procurement names the county its produce may come from; other needs a village
            region = county if root == "produce" else village
            needs.append(
                NeedItem(
                    id=f"n{k:07d}",
                    party=Party(org, rnd.choice(["community", "enterprise", "ngo"]), village),
                    category=need_cat,
                    remaining=quantity * base_factor(unit)[0],
                    unit=unit,
                    region=region,
                    window_start=start,
                    window_end=start + timedelta(days=rnd.randint(10, 120)),
                )
            )
        else:
            offers.append(
                OfferItem(
                    id=f"o{k:07d}",
                    organisation_id=org,
                    category=offer_cat,
                    remaining=quantity * base_factor(unit)[0],
                    unit=unit,
                    region=village,
                    service_area=(county,),
                    window_start=start,
                    window_end=start + timedelta(days=rnd.randint(10, 120)),
                    fulfilment_rate=rnd.choice([0.3, 0.5, 0.8]),
                )
            )
    return needs, offers


def partitions(
    needs: list[NeedItem], offers: list[OfferItem]
) -> dict[str, tuple[list[NeedItem], list[OfferItem]]]:
    parts: dict[str, tuple[list[NeedItem], list[OfferItem]]] = defaultdict(lambda: ([], []))
    for n in needs:
        parts[f"{n.category.split('.')[0]}:{n.region[:6]}"][0].append(n)
    for o in offers:
        parts[f"{o.category.split('.')[0]}:{o.service_area[0]}"][1].append(o)
    return parts


def _solve_partition(part: tuple[list[NeedItem], list[OfferItem]]) -> tuple[int, list[Allocation]]:
    """One partition as the coordinator solves it: the matrix filter, each listing's best
    ``KEEP`` pairs, the optimal fair allocation. The pairs kept and the allocation."""
    kept = candidate_pairs(part[0], part[1], today=TODAY, keep=KEEP)
    return len(kept), allocate(kept)


def full_solve(size: int, *, reference: bool, threads: int = SOLVE_THREADS) -> dict[str, float]:
    """Every partition solved: the coordinator's way (``_solve_partition``, on ``threads``
    threads as its re-solves run, and on one) against a greedy matcher over every pair; with
    ``reference``, also the one-pair reference filter's time over every pair."""
    needs, offers = synthetic_book(size)
    results = dict.fromkeys(
        (
            "candidates",
            "kept",
            "reference_filter_s",
            "optimal_s",
            "optimal_one_thread_s",
            "greedy_s",
            "optimal_objective",
            "greedy_objective",
            "partitions",
        ),
        0.0,
    )
    parts = list(partitions(needs, offers).values())
    started = time.perf_counter()
    one_by_one = [_solve_partition(part) for part in parts]
    results["optimal_one_thread_s"] = time.perf_counter() - started
    del one_by_one
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        solved = list(pool.map(_solve_partition, parts))
    results["optimal_s"] = time.perf_counter() - started
    for (part_needs, part_offers), (kept, optimal) in zip(parts, solved, strict=True):
        results["partitions"] += 1
        results["kept"] += kept
        every = candidate_pairs(part_needs, part_offers, today=TODAY)
        results["candidates"] += len(every)
        started = time.perf_counter()
        greedy = greedy_allocate(every)
        results["greedy_s"] += time.perf_counter() - started
        results["optimal_objective"] += objective(optimal)
        results["greedy_objective"] += objective(greedy)
        if reference:
            started = time.perf_counter()
            candidates_for(part_needs, part_offers, today=TODAY)
            results["reference_filter_s"] += time.perf_counter() - started
    return results


def fill_book(
    url: str, needs: list[NeedItem], offers: list[OfferItem], extra_orgs: tuple[str, ...] = ()
) -> None:
    """Write a synthetic book into a migrated coordinator database: its organisations (and
    ``extra_orgs``) registered, every need and offer open."""
    engine = make_engine(url)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(RegisteredOrganisation),
            [
                {
                    "id": org,
                    "name": org,
                    "kind": "community",
                    "region": "610121100200",
                    "contact": {},
                    "registered_at": now,
                }
                # the measured needs' publisher must be registered, or its needs would only be held
                for org in sorted({n.party.organisation_id for n in needs} | set(extra_orgs))
            ],
        )
        common: dict[str, Any] = {
            "description": "",
            "attributes": {},
            "status": "open",
            "withdrawn_reason": None,
            "version": 1,
            "published_at": now,
            "updated_at": now,
            "kind": "community",
        }
        connection.execute(
            insert(BookNeed),
            [
                common
                | {
                    "id": n.id,
                    "organisation_id": n.party.organisation_id,
                    "category": n.category,
                    "title": n.id,
                    "quantity": Decimal(str(round(n.remaining / base_factor(n.unit)[0], 4))),
                    "unit": n.unit,
                    "region": n.region,
                    "window_start": n.window_start,
                    "window_end": n.window_end,
                }
                for n in needs
            ],
        )
        connection.execute(
            insert(BookOffer),
            [
                common
                | {
                    "id": o.id,
                    "organisation_id": o.organisation_id,
                    "category": o.category,
                    "title": o.id,
                    "quantity": Decimal(str(round(o.remaining / base_factor(o.unit)[0], 4))),
                    "unit": o.unit,
                    "region": o.region,
                    "window_start": o.window_start,
                    "window_end": o.window_end,
                    "service_area": list(o.service_area),
                }
                for o in offers
            ],
        )
        connection.execute(
            insert(BookOfferArea), [{"offer_id": o.id, "prefix": o.service_area[0]} for o in offers]
        )
    engine.dispose()


def event_latency(size: int, repeats: int) -> list[float]:
    """Seconds from applying one new need event to its proposals being written, 100k items open."""
    needs, offers = synthetic_book(size, seed=11)
    directory = Path(tempfile.mkdtemp(prefix="sifang-bench-"))
    url = f"sqlite:///{directory / 'coordinator.db'}"
    upgrade("coordinator", url)
    fill_book(url, needs, offers, extra_orgs=("org-bench",))
    engine = make_engine(url)
    sessions = sessionmaker(engine)
    projection = CoordinatorProjection()
    timings = []
    counties = [COUNTIES[k % len(COUNTIES)] for k in range(repeats)]
    freeze_startup_heap()  # as a started coordinator does: full collections walk what comes after
    # Warm-up, not timed: one need in each measured county, so its partition is solved and
    # holds its proposals, as a running coordinator's partitions do; then the timed needs.
    for k, county in enumerate([*dict.fromkeys(counties), *counties]):
        timed = k >= len(set(counties))
        data = NeedData(
            need_id=f"bench-need-{k}",
            organisation_id="org-bench",
            category="training.livestream",
            title="直播带货培训",
            description="",
            quantity=Decimal(25),
            unit="人",
            region=f"{county}101201",
            attributes={},
            version=1,
        )
        subject, envelope = CATALOGUE["sifang.need.published.v1"].build(
            kind="community", organisation_id="org-bench", region=data.region, data=data
        )
        payload = envelope.to_json()
        started = time.perf_counter()
        checked = check_event(subject, payload)
        with sessions() as session:
            projection(session, checked, Delivery(subject, payload, {}, 10**6 + k, 1))
            session.commit()
        if timed:
            timings.append(time.perf_counter() - started)
        with sessions() as session:
            if session.get(BookNeed, data.need_id) is None:
                raise RuntimeError(f"{data.need_id} was not applied (held?): the figure would be wrong")
    engine.dispose()
    gc.unfreeze()
    return timings


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (``share`` 0.5 for the median, 0.99 for p99)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--latency-sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--reference-up-to", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=SOLVE_THREADS, help="the coordinator's solve threads")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(
        f"\n| open items | partitions | pairs passing | pairs kept | coordinator solve s ({args.threads} threads) "
        "| on one thread s | greedy over every pair s | objective ÷ greedy's | one-pair reference filter s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",") if s):
        r = full_solve(size, reference=size <= args.reference_up_to, threads=args.threads)
        ratio = r["optimal_objective"] / r["greedy_objective"] if r["greedy_objective"] else 1.0
        reference = f"{r['reference_filter_s']:.2f}" if size <= args.reference_up_to else "—"
        print(
            f"| {size:,} | {int(r['partitions'])} | {int(r['candidates']):,} | {int(r['kept']):,} | "
            f"{r['optimal_s']:.2f} | {r['optimal_one_thread_s']:.2f} | {r['greedy_s']:.2f} | {ratio:.3f} "
            f"| {reference} |",
            flush=True,
        )
    print(
        "\n| open items | new need → its proposals written (SQLite, one transaction) | p50 | p90 | p99 | max |"
    )
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.latency_sizes.split(",") if s):
        timings = event_latency(size, args.repeats)
        figures = " | ".join(f"{percentile(timings, share) * 1000:.0f} ms" for share in (0.5, 0.9, 0.99, 1.0))
        print(f"| {size:,} | {len(timings)} events in warmed partitions | {figures} |", flush=True)


if __name__ == "__main__":
    main()
