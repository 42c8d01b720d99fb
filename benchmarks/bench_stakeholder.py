"""Stakeholder write benchmark: ``python -m benchmarks.bench_stakeholder``.

In one run, against one real nats-server (JetStream, file storage) on this machine:

1. **Baseline**: a bare FastAPI app (one uvicorn worker, its own process) whose ``POST /needs``
   validates the body as :class:`NeedCreate` and publishes it to JetStream, awaiting the ack.
2. **Service**: the real community service (one uvicorn worker, SQLite by default) and its
   ``POST /needs``, under the same load: ``--clients`` concurrent clients, closed loop, for
   ``--seconds``. Reported: req/s of each, the ratio, p50 / p99 latency.
3. **Overload**: each of ``--rates`` requests per second (100 and, beyond what the service can
   take, 400), open loop, for ``--overload-seconds`` against the service: how many got 2xx, 503 (with ``Retry-After``), any other 5xx or no answer; p50 / p99;
   and whether every accepted need reached the stream.

The load generator runs in this process and shares the two cores with the servers; the baseline
and the service are loaded in alternating slices (``--rounds``), so that other work on the machine
weighs on both alike. ``--client httpx`` (the default, as in issue 12) costs ~3 ms of CPU a request,
more than the bare endpoint itself, and so caps the baseline; ``--client raw`` (a minimal
keep-alive HTTP/1.1 client) shows what the servers can do. Compare the rows of one run with each
other, not runs with each other. ``--database-url`` runs the service on PostgreSQL instead.
"""

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from benchmarks import machine
from shared.events.envelope import CONTENT_TYPE, new_event_id
from shared.messaging.nats import STREAM_NAME, NatsLink, provision_stream
from shared.stakeholder.schemas import NeedCreate
from sifang.platform import LocalNats, free_port

ADMIN_TOKEN = "bench-admin-token-0123456789"
ROOT = Path(__file__).resolve().parents[1]
LOAD_REGION = "610124104201"  # closed-loop need events go to sifang.community.610124.need.published


def _need(i: int) -> dict[str, Any]:
    return {
        "category": "training.livestream",
        "title": f"直播带货培训 {i}",
        "description": "村里二十位青年想学直播带货",
        "quantity": 20 + i % 30,
        "unit": "人",
        "window_start": "2027-03-01",
        "window_end": "2027-04-30",
    }


# --- the baseline: validate and publish, nothing else ---------------------------------------


def create_bare_app() -> FastAPI:
    """``uvicorn --factory benchmarks.bench_stakeholder:create_bare_app`` (``NATS_URL`` in the env)."""
    link = NatsLink(  # credentials when the server asks for them (bench_latency's platform)
        os.environ["NATS_URL"],
        "bench-bare",
        user=os.environ.get("BENCH_NATS_USER"),
        password=os.environ.get("BENCH_NATS_PASSWORD"),
    )
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        await link.jetstream()
        return {"status": "ok"}

    @app.post("/needs", status_code=201)
    async def post_need(body: NeedCreate) -> dict[str, Any]:
        need_id = new_event_id()
        js = await link.jetstream()
        payload = {"need_id": need_id, **body.model_dump(mode="json")}
        await js.publish(
            "sifang.bench.610124.need.published",
            json.dumps(payload, ensure_ascii=False).encode(),
            stream=STREAM_NAME,
            headers={"Nats-Msg-Id": need_id, "Content-Type": CONTENT_TYPE},
        )
        return payload

    return app


# --- processes ---------------------------------------------------------------------------------


@contextmanager
def _uvicorn(factory: str, env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with open(log, "ab") as output:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=output, stderr=output, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{factory} exited with {process.returncode}; see {log}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{factory} not healthy after 60 s; see {log}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- load --------------------------------------------------------------------------------------


@dataclass
class Load:
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests only
    statuses: Counter[int | str] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)  # ids of the needs answered 2xx
    retry_after: Counter[str] = field(default_factory=Counter)  # Retry-After values of the 503s
    refusals: list[float] = field(default_factory=list)  # seconds until each 503

    @property
    def answered(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return sum(n for s, n in self.statuses.items() if isinstance(s, int) and s < 300) / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    def count(self, low: int, high: int) -> int:
        return sum(n for s, n in self.statuses.items() if isinstance(s, int) and low <= s < high)


class RawClient:
    """A minimal HTTP/1.1 client over keep-alive connections: a few tens of microseconds a
    request, so that the load generator, sharing the cores with the servers, costs them little
    (httpx costs ~3 ms of CPU a request, more than the bare endpoint itself)."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"POST /needs HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n{extra}"
        self.timeout = timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
        reader, writer = conn
        try:
            async with asyncio.timeout(self.timeout):
                writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                status = int((await reader.readuntil(b"\r\n")).split(b" ", 2)[1])
                headers = {}
                while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                content = await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            writer.close()
            raise
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append(conn)
        return status, headers, content

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


class HttpxClient:
    """The same interface over httpx (the issue's figures were taken with httpx clients)."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        self.client = httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=timeout)

    async def post(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            response = await self.client.post(
                "/needs", content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise OSError(str(exc)) from exc
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content

    def close(self) -> None:
        pass  # the connections go with the event loop


Client = RawClient | HttpxClient
CLIENTS: dict[str, type[Client]] = {"raw": RawClient, "httpx": HttpxClient}


async def _post(client: Client, i: int, load: Load) -> None:
    body = json.dumps(_need(i), ensure_ascii=False).encode()
    started = time.perf_counter()
    try:
        status, headers, content = await client.post(body)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        load.statuses[type(exc).__name__] += 1
        return
    load.latencies.append(time.perf_counter() - started)
    load.statuses[status] += 1
    if 200 <= status < 300:
        load.accepted.append(json.loads(content)["need_id"])
    elif status == 503:
        load.retry_after[headers.get("retry-after", "missing")] += 1
        load.refusals.append(load.latencies[-1])


async def closed_loop(
    targets: list[tuple[str, dict[str, str]]], clients: int, seconds: float, rounds: int, kind: str = "raw"
) -> list[Load]:
    """``clients`` clients each sending the next request as soon as the last is answered, to each
    target in turn for ``seconds / rounds`` at a time (so that other work on the machine weighs on
    every target alike); one warm-up second per target is not counted."""
    loads = [Load(seconds) for _ in targets]
    pool = [CLIENTS[kind](url, headers, 60) for url, headers in targets]
    for client in pool:
        await _run_closed(client, clients, 1.0, Load(1.0))
    for _ in range(rounds):
        for client, load in zip(pool, loads, strict=True):
            await _run_closed(client, clients, seconds / rounds, load)
    for client in pool:
        client.close()
    return loads


async def _run_closed(client: Client, clients: int, seconds: float, load: Load) -> None:
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            await _post(client, next(counter), load)

    await asyncio.gather(*(one_client() for _ in range(clients)))


async def open_loop(
    url: str, headers: dict[str, str], rate: float, seconds: float, request_timeout: float, kind: str = "raw"
) -> Load:
    """``rate`` requests per second on a fixed schedule, whether or not earlier ones were answered
    (a new connection whenever no idle one is at hand)."""
    load = Load(seconds)
    client = CLIENTS[kind](url, headers, request_timeout)
    start = time.perf_counter()
    tasks = []
    for i in range(round(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_post(client, i, load)))
    await asyncio.gather(*tasks)
    client.close()
    return load


async def ids_on_stream(nats_url: str, subject: str, expected: set[str], wait: float) -> set[str]:
    """The need ids among ``expected`` found in the stream on ``subject``, waiting up to ``wait`` s."""
    link = NatsLink(nats_url, "bench-reader")
    found: set[str] = set()
    try:
        js = await link.jetstream()
        sub = await js.subscribe(subject, ordered_consumer=True)
        deadline = time.monotonic() + wait
        while not expected <= found and time.monotonic() < deadline:
            try:
                message = await sub.next_msg(timeout=max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                break
            found.add(json.loads(message.data)["data"]["need_id"])
        await sub.unsubscribe()
    finally:
        await link.close()
    return found & expected


# --- the run -----------------------------------------------------------------------------------


def _register(url: str, region: str) -> dict[str, str]:
    response = httpx.post(
        url + "/organisations",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"name": f"秦岭村委会 {region}", "region": region},
        timeout=120,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def run(args: argparse.Namespace) -> list[dict[str, str]]:
    from services.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="sifang-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        nats = LocalNats(free_port(), work / "nats", work / "nats.log")
        nats.start()
        stack.callback(nats.stop)
        asyncio.run(provision_stream(nats.url))
        database_url = args.database_url or f"sqlite:///{work / 'community.db'}"
        upgrade("community", database_url)
        env = {
            "NATS_URL": nats.url,
            "SIFANG_ADMIN_TOKEN": ADMIN_TOKEN,
            "SIFANG_VAR_DIR": str(work),
            "COMMUNITY_DATABASE_URL": database_url,
        }
        bare_url = stack.enter_context(
            _uvicorn(
                "benchmarks.bench_stakeholder:create_bare_app", {"NATS_URL": nats.url}, work / "bare.log"
            )
        )
        url = stack.enter_context(_uvicorn("services.community.app:create_app", env, work / "community.log"))
        headers = _register(url, LOAD_REGION)
        # Every organisation is registered up front: after an overload a service may take long to
        # answer anything, and that is measured by the overload rows, not by a failed registration.
        regions = [f"6101{25 + i}104201" for i in range(len(args.rates))]  # one county (subject) each
        overload_headers = [_register(url, region) for region in regions]
        bare, service = asyncio.run(
            closed_loop(
                [(bare_url, {}), (url, headers)], args.clients, args.seconds, args.rounds, args.client
            )
        )
        overloads: list[tuple[float, Load, int]] = []
        for rate, region, headers in zip(args.rates, regions, overload_headers, strict=True):
            overload = asyncio.run(
                open_loop(url, headers, rate, args.overload_seconds, args.request_timeout, args.client)
            )
            accepted = set(overload.accepted)
            subject = f"sifang.community.{region[:6]}.need.published"
            on_stream = asyncio.run(ids_on_stream(nats.url, subject, accepted, 15))
            overloads.append((rate, overload, len(on_stream)))

    backend = "PostgreSQL" if args.database_url else "SQLite"
    load = f"{args.clients} {args.client} clients, {args.seconds:g} s"
    rows = [
        {
            "measure": f"bare FastAPI `POST /needs` → JetStream ({load})",
            "result": f"{bare.rate:,.0f} req/s; p50 {_ms(bare.percentile(50))}, p99 {_ms(bare.percentile(99))}",
        },
        {
            "measure": f"community `POST /needs`, {backend} ({load})",
            "result": f"{service.rate:,.0f} req/s; p50 {_ms(service.percentile(50))}, "
            f"p99 {_ms(service.percentile(99))}; non-2xx {service.answered - service.count(200, 300)}",
        },
        {
            "measure": "service ÷ bare (goal ≥ 0.6, p99 ≤ 100 ms)",
            "result": f"{service.rate / bare.rate:.2f}",
        },
    ]
    for rate, overload, found in overloads:
        other_5xx = overload.count(500, 600) - overload.statuses[503]
        no_answer = sum(n for s, n in overload.statuses.items() if not isinstance(s, int))
        retry_after = ", ".join(f"{v} s ×{n}" for v, n in sorted(overload.retry_after.items())) or "—"
        refusals = sorted(overload.refusals)
        if refusals:
            retry_after += (
                f"; 503 p99 {_ms(refusals[min(len(refusals) - 1, round(0.99 * (len(refusals) - 1)))] * 1000)}"
            )
        rows.append(
            {
                "measure": f"overload: {rate:g} req/s for {args.overload_seconds:g} s, open loop ({args.client})",
                "result": f"2xx {overload.count(200, 300)}, 503 {overload.statuses[503]} "
                f"(Retry-After {retry_after}), other 5xx {other_5xx}, no answer {no_answer}; "
                f"p50 {_ms(overload.percentile(50))}, p99 {_ms(overload.percentile(99))}; "
                f"accepted needs on the stream: {found} of {overload.count(200, 300)}",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="httpx",
        help="load generator: httpx (as in issue 12) or a minimal raw HTTP/1.1 client",
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternations of baseline and service")
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[100, 400], help="open-loop overload rates, req/s"
    )
    parser.add_argument("--overload-seconds", type=float, default=10)
    parser.add_argument("--request-timeout", type=float, default=10, help="per request, overload run")
    parser.add_argument("--database-url", help="the community service's database (default: SQLite)")
    args = parser.parse_args(argv)
    rows = run(args)
    print(f"\nmachine: {machine()}\n")
    print("| measure | result |\n|---|---|")
    for row in rows:
        print(f"| {row['measure']} | {row['result']} |")
    return rows


if __name__ == "__main__":
    main()
