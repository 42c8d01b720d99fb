"""Coordinator memory with a large open book: ``python -m benchmarks.bench_memory``.

In one run: the whole platform as ``make run`` starts it (five processes, SQLite, a local
nats-server), its coordinator database filled beforehand with ``--items`` open needs and
offers of the synthetic book (``bench_matching.synthetic_book``: 100 counties, six kinds); the
same platform with a book of ``--baseline-items`` is the baseline. After a warm-up (one need
per county, each solving its partition, for which the book was written without proposals),
one-person training needs are posted through the community service at ``--rate`` per second
for ``--seconds``, in the villages of 20 of the book's counties in turn (``bench_latency``'s
needs), and a subscriber waits for each need's ``match.proposed``. Reported per book: the
coordinator's resident memory idle (after start) and its peak (VmHWM) after the load, the
goal's allowance (1 KB per open item + 200 MB), and the need → proposal latency at that book,
so the memory figure is taken while the coordinator does real work.
"""

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_latency import COUNTIES as LATENCY_COUNTIES
from benchmarks.bench_latency import Latencies, _measure, _register
from benchmarks.bench_matching import fill_book, synthetic_book
from services import SERVICES
from services.migrate import upgrade
from sifang.platform import Platform, free_ports

__all__ = ["MemoryFigures", "main"]

TOKEN = "bench-memory-admin-token-0123456789"
MEBIBYTE = 1024 * 1024
WARM_UP_RATE = 0.5  # needs per second, one per county of the load


@dataclass(frozen=True)
class MemoryFigures:
    items: int
    idle_bytes: int
    peak_bytes: int
    latency: Latencies

    @property
    def allowance_bytes(self) -> int:
        """The goal of issue 12: at most 1 KB per open item plus 200 MB."""
        return self.items * 1024 + 200 * MEBIBYTE

    def row(self) -> str:
        p50, p99 = (self.latency.percentile(s) * 1000 for s in (0.5, 0.99))
        return (
            f"| {self.items:,} | {self.idle_bytes / MEBIBYTE:.0f} MiB | {self.peak_bytes / MEBIBYTE:.0f} MiB "
            f"| {self.allowance_bytes / MEBIBYTE:.0f} MiB | {'yes' if self.peak_bytes <= self.allowance_bytes else 'no'} "
            f"| {len(self.latency.seconds)} of {len(self.latency.seconds) + self.latency.missing} "
            f"| {p50:.0f} ms | {p99:.0f} ms |"
        )


def _memory(pid: int) -> tuple[int, int]:
    """Resident memory now and at its peak (VmRSS, VmHWM) of a process, in bytes."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return (int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024)


def measure(items: int, rate: float, seconds: float) -> MemoryFigures:
    with tempfile.TemporaryDirectory(prefix="sifang-bench-memory-") as directory:
        var = Path(directory) / "var"
        var.mkdir()
        if items:
            url = f"sqlite:///{(var / 'coordinator.db').resolve()}"
            upgrade("coordinator", url)
            needs, offers = synthetic_book(items, seed=13)
            fill_book(url, needs, offers)
        nats_port, *ports = free_ports(1 + len(SERVICES))
        platform = Platform(
            var, nats_port=nats_port, ports=dict(zip(SERVICES, ports, strict=True)), token=TOKEN
        )
        platform.start()
        try:
            idle, _ = _memory(platform.pid("coordinator"))
            village = _register(platform, "community", "东村村委会", f"{LATENCY_COUNTIES[0]}104201")
            time.sleep(1)  # the organisation is in the coordinator's registry

            def load(name: str, per_second: float, duration: float) -> Latencies:
                return asyncio.run(
                    _measure(
                        name,
                        platform.url("community") + "/needs",
                        village,
                        platform.nats_url,
                        platform.nats_credentials(),
                        "sifang.coordinator.*.match.proposed",
                        lambda event: event.get("data", {}).get("need_id"),
                        per_second,
                        duration,
                    )
                )

            # warm-up, not measured: the first need of each county solves its whole partition
            # (the book was written without proposals), as a running coordinator did long ago
            load("warm-up", WARM_UP_RATE, len(LATENCY_COUNTIES) / WARM_UP_RATE)
            latency = load(f"POST /needs → match.proposed, {items:,} open items", rate, seconds)
            _, peak = _memory(platform.pid("coordinator"))
        finally:
            platform.stop()
    return MemoryFigures(items, idle, peak, latency)


def main(argv: list[str] | None = None) -> list[MemoryFigures]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--baseline-items", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args(argv)
    figures = [measure(n, args.rate, args.seconds) for n in (args.baseline_items, args.items)]
    print(
        "\n| open items | coordinator RSS idle | peak RSS after the load | allowance (1 KB/item + 200 MB) "
        "| within | needs proposed | p50 | p99 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for figure in figures:
        print(figure.row())
    return figures


if __name__ == "__main__":
    main()
