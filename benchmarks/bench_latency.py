"""End-to-end latency: ``POST /needs`` at a stakeholder service → ``match.proposed`` seen by a
NATS subscriber, at a steady rate, through the whole platform as ``make run`` starts it
(``python -m benchmarks.bench_latency``).

In one run on one machine: the platform (five services as processes, SQLite, a local
nats-server) with 20 counties, each with a course of ample seats; one-person training needs
for villages of those counties in turn at ``--rate`` per second for ``--seconds``; a plain nats-py
subscriber on ``sifang.match.proposed.>`` notes when each need's first proposal arrives. The
baseline is the same hops without a database: a bare FastAPI endpoint (``bench_stakeholder``)
that validates the need and publishes it to JetStream, and the same subscriber seeing it, at the
same rate. Reported: p50, p90, p99 and max of each, and the ratio of the p99s; and the platform's
two legs, from a third subscriber on the need events: the stakeholder service (POST → the need
on the stream) and the coordinator (the need → ``match.proposed``).
"""

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats

from benchmarks.bench_stakeholder import _uvicorn
from services import SERVICES
from sifang.platform import Platform, free_ports

__all__ = ["Latencies", "main"]

COUNTIES = [f"61{c:02d}{d:02d}" for c in range(1, 3) for d in range(21, 31)]  # 20 counties
TOKEN = "bench-latency-admin-token-0123456789"


@dataclass(frozen=True)
class Latencies:
    name: str
    seconds: list[float]  # one per need seen; missing ones are counted apart
    missing: int

    def percentile(self, share: float) -> float:
        ordered = sorted(self.seconds)
        if not ordered:
            return float("nan")
        return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]

    def row(self) -> str:
        figures = " | ".join(f"{self.percentile(s) * 1000:.0f} ms" for s in (0.5, 0.9, 0.99, 1.0))
        return f"| {self.name} | {len(self.seconds)} | {self.missing} | {figures} |"


def _need(i: int) -> dict[str, Any]:
    """One person's training, in the villages of 20 counties in turn."""
    return {
        "category": "training.livestream",
        "title": f"直播带货培训 {i}",
        "quantity": 1,
        "unit": "人",
        "region": f"{COUNTIES[i % len(COUNTIES)]}104201",
    }


async def _measure(
    name: str,
    post_url: str,
    headers: dict[str, str],
    nats_url: str,
    credentials: dict[str, str],
    subject: str,
    id_of: Any,
    rate: float,
    seconds: float,
    waypoint: str | None = None,
) -> list[Latencies]:
    """Post at ``rate`` for ``seconds``; the time from each POST to its event on ``subject``.
    With ``waypoint`` (the subject of the need's own event), also the two legs: POST → the need
    on the stream (the stakeholder service and its relay), and the need → ``subject`` (the
    coordinator and its relay)."""
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    passed: dict[str, float] = {}
    posted, all_seen = asyncio.Event(), asyncio.Event()
    connection = await nats.connect(nats_url, **credentials)

    async def on_waypoint(message: Any) -> None:
        key = id_of(json.loads(message.data))
        if key is not None and key not in passed:
            passed[key] = time.perf_counter()

    if waypoint is not None:
        await connection.subscribe(waypoint, cb=on_waypoint)

    async def on_message(message: Any) -> None:
        key = id_of(json.loads(message.data))
        if key is not None and key not in seen:
            seen[key] = time.perf_counter()
        if posted.is_set() and set(sent) <= set(seen):
            all_seen.set()

    await connection.subscribe(subject, cb=on_message)
    async with httpx.AsyncClient(timeout=30) as client:

        async def post(i: int) -> None:
            started = time.perf_counter()
            response = await client.post(post_url, json=_need(i), headers=headers)
            if response.status_code in (200, 201):
                body = response.json()
                sent[str(body.get("need_id") or body.get("id"))] = started

        tasks = []
        start = time.perf_counter()
        for i in range(round(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(i)))
        await asyncio.gather(*tasks)
    posted.set()
    if set(sent) <= set(seen):
        all_seen.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_seen.wait(), timeout=15)
    await connection.close()
    latencies = [seen[k] - sent[k] for k in sent if k in seen]
    results = [Latencies(name, latencies, len(set(sent) - set(seen)))]
    if waypoint is not None:
        results += [
            Latencies(
                "… of which POST → the need on the stream",
                [passed[k] - sent[k] for k in sent if k in passed],
                len(set(sent) - set(passed)),
            ),
            Latencies(
                "… and the need on the stream → match.proposed",
                [seen[k] - passed[k] for k in sent if k in passed and k in seen],
                sum(1 for k in sent if k not in passed or k not in seen),
            ),
        ]
    return results


def _register(platform: Platform, service: str, name: str, region: str) -> dict[str, str]:
    response = httpx.post(
        platform.url(service) + "/organisations",
        headers={"Authorization": f"Bearer {platform.token}"},
        json={"name": name, "region": region},
        timeout=60,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


def run(rate: float, seconds: float, resolve_at: str = "event") -> list[Latencies]:
    with tempfile.TemporaryDirectory(prefix="sifang-bench-latency-") as directory:
        nats_port, *ports = free_ports(1 + len(SERVICES))
        platform = Platform(
            Path(directory) / "var",
            nats_port=nats_port,
            ports=dict(zip(SERVICES, ports, strict=True)),
            token=TOKEN,
            env={"COORDINATOR_RESOLVE_AT": resolve_at},
        )
        platform.start()
        try:
            credentials = platform.nats_credentials()
            village = _register(platform, "community", "东村村委会", f"{COUNTIES[0]}104201")
            for county in COUNTIES:  # a course with ample seats in each county
                trainer = _register(platform, "ngo", f"社会工作服务站 {county}", county)
                httpx.post(
                    platform.url("ngo") + "/offers",
                    headers=trainer,
                    json={
                        "category": "training.livestream",
                        "title": "直播带货常年班",
                        "quantity": 100000,
                        "unit": "人",
                        "service_area": [county],
                    },
                    timeout=30,
                ).raise_for_status()
            time.sleep(3)  # the courses are in the coordinator's book
            platform_rows = asyncio.run(
                _measure(
                    f"POST /needs → match.proposed (platform, SQLite, re-solved at each {resolve_at})",
                    platform.url("community") + "/needs",
                    village,
                    platform.nats_url,
                    credentials,
                    "sifang.coordinator.*.match.proposed",
                    lambda event: event.get("data", {}).get("need_id"),
                    rate,
                    seconds,
                    waypoint="sifang.community.*.need.published",
                )
            )
            with _uvicorn(
                "benchmarks.bench_stakeholder:create_bare_app",
                {"NATS_URL": platform.nats_url, **_nats_env(credentials)},
                Path(directory) / "bare.log",
            ) as bare_url:
                (baseline,) = asyncio.run(
                    _measure(
                        "bare endpoint → its event (no database)",
                        bare_url + "/needs",
                        {},
                        platform.nats_url,
                        credentials,
                        "sifang.bench.>",
                        lambda event: event.get("need_id"),
                        rate,
                        seconds,
                    )
                )
        finally:
            platform.stop()
    return [*platform_rows, baseline]


def _nats_env(credentials: dict[str, str]) -> dict[str, str]:
    if not credentials:
        return {}
    return {"BENCH_NATS_USER": credentials["user"], "BENCH_NATS_PASSWORD": credentials["password"]}


def main(argv: list[str] | None = None) -> list[Latencies]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--resolve-at",
        default="event",
        choices=["event", "tick"],
        help="the coordinator's COORDINATOR_RESOLVE_AT",
    )
    args = parser.parse_args(argv)
    rows = run(args.rate, args.seconds, args.resolve_at)
    print(f"{args.rate:g} needs/s for {args.seconds:g} s, Python {sys.version.split()[0]}")
    print("\n| path | seen | missing | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|")
    for row in rows:
        print(row.row())
    service, baseline = rows[0], rows[-1]
    ratio = service.percentile(0.99) / baseline.percentile(0.99)
    print(f"\np99 ratio (platform ÷ bare): {ratio:.1f}; goal: platform p99 ≤ 30 ms")
    return rows


if __name__ == "__main__":
    main()
