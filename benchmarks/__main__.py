"""``make bench`` (``python -m benchmarks``): every benchmark, each figure against a baseline
measured in the same run, and the machine and its load when it ran.

1. Stakeholder writes (``bench_stakeholder``): ``POST /needs`` of the community service ÷ a bare
   FastAPI endpoint that validates and publishes to JetStream, 16 clients; p99; overload.
2. Coordinator ingest (``bench_ingest``): events applied per second ÷ a plain nats-py durable
   pull consumer over the same messages; ``sifang replay`` ÷ reading the stream.
3. Matching (``bench_matching``): the full solve against a greedy matcher over every pair, and
   the latency of one new need's re-match in a book of open items.
4. End to end (``bench_latency``): ``POST /needs`` → ``match.proposed`` seen by a subscriber at
   20 needs/s through the whole platform, against a bare endpoint → its event.
5. Memory (``bench_memory``): the coordinator's resident memory with 200k open items, while it
   matches needs posted through the platform, against a book of 1k.
6. Partitions (``bench_partitions``): a province partition's consumer filter (≈ 3,500
   subjects) against a single coordinator's four wide ones, over the same stream.

Each prints its own table; ``--only`` runs some of them
(``stakeholder,ingest,matching,latency,memory,partitions``).
"""

import argparse
import time

from benchmarks import machine

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="stakeholder,ingest,matching,latency,memory,partitions")
    args = parser.parse_args(argv)
    chosen = set(args.only.split(","))
    print(f"# Sifang benchmarks\n\nmachine: {machine()}\n", flush=True)
    started = time.monotonic()
    if "stakeholder" in chosen:
        from benchmarks import bench_stakeholder

        print("## Stakeholder writes (16 httpx clients, as issue 12 measured)\n", flush=True)
        bench_stakeholder.main([])
        print(
            "\n## Stakeholder writes (a raw HTTP client, so the client is not the bottleneck)\n", flush=True
        )
        bench_stakeholder.main(["--client", "raw"])
    if "ingest" in chosen:
        from benchmarks import bench_ingest

        print("\n## Coordinator ingest and replay\n", flush=True)
        bench_ingest.main([])
    if "matching" in chosen:
        from benchmarks import bench_matching

        print("\n## Matching\n", flush=True)
        bench_matching.main([])
    if "latency" in chosen:
        from benchmarks import bench_latency

        print("\n## End to end: a need to its proposal\n", flush=True)
        bench_latency.main([])
        print(
            "\n### The same, the coordinator re-solving at points (COORDINATOR_RESOLVE_AT=tick)\n", flush=True
        )
        bench_latency.main(["--resolve-at", "tick"])
    if "memory" in chosen:
        from benchmarks import bench_memory

        print("\n## Coordinator memory at 200k open items\n", flush=True)
        bench_memory.main([])
    if "partitions" in chosen:
        from benchmarks import bench_partitions

        print("\n## A partition's consumer filter\n", flush=True)
        bench_partitions.main([])
    print(f"\nmachine after the run: {machine()}; {time.monotonic() - started:.0f} s in all")


if __name__ == "__main__":
    main()
