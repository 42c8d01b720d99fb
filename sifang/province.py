"""The province's read router: one read API over coordinators partitioned by county.

Each partition's coordinator answers for its own counties. The router asks every partition
(with its own read token for each) and merges the answers in the order one coordinator gives:
needs and offers oldest first, matches most recently changed first. Organisations are known to
every partition, so they come from the first that answers. One item (``/needs/{id}``,
``/matches/{id}``, a diagnosis) comes from the partition that has it.

A partition that does not answer, or answers with anything but its data or the caller's own
mistake (a 400 or 422, passed on), is never skipped silently: the request fails with 503
naming it, unless the caller asks for ``partial=true``, when the answer says in
``Sifang-Missing-Partitions`` whose items are missing. Callers present one of the router's own
tokens (``PROVINCE_TOKENS`` holds their SHA-256 digests; ``sifang province token`` makes one).
Errors are JSON naming the field and the problem, as everywhere in Sifang.
"""

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import Depends, FastAPI, Header, Query, Request, Response
from pydantic import BaseModel, Field, HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import InvalidInput, NotFound, Unauthorized, Unavailable
from shared.http_errors import install_error_handlers
from shared.paging import MAX_LIMIT, Limit, Offset

__all__ = ["MISSING_HEADER", "Partition", "ProvinceSettings", "create_app", "new_token"]

MISSING_HEADER = "Sifang-Missing-Partitions"
MAX_DEPTH = 10_000  # offset + limit: deeper pages would hold every partition's rows up to there
ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
Params = Sequence[tuple[str, str]]


class Partition(BaseModel):
    url: HttpUrl = Field(description="the coordinator's base URL")
    token: str = Field(description="a token of that coordinator with scope read:book")


class ProvinceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROVINCE_", extra="ignore")
    port: int = 8200
    partitions: dict[str, Partition] = Field(
        default_factory=dict, description='{"<name>": {"url": ..., "token": ...}} per coordinator'
    )
    tokens: list[str] = Field(
        default_factory=list, description="SHA-256 hex digests of the tokens callers may present"
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds a partition has to answer")


def new_token() -> tuple[str, str]:
    """A caller token for the router and the digest to put in ``PROVINCE_TOKENS``."""
    token = "spr_" + secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


class PartitionsDown(Unavailable):
    def __init__(self, names: Sequence[str]) -> None:
        shown = ", ".join(names)
        message = f"partitions not answering: {shown}; ask again, or with partial=true for the others'"
        super().__init__(message, field="partitions", retry_after=5)


@dataclass
class _Answer:
    """One partition's answer: its status (None: it did not answer) and, at 200, its data."""

    status: int | None
    data: Any = None
    problem: dict[str, str] = field(default_factory=dict)  # the first error of a 4xx body

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def callers_mistake(self) -> bool:
        return self.status in (400, 422)


def create_app(settings: ProvinceSettings | None = None) -> FastAPI:
    settings = settings or ProvinceSettings()
    digests = [bytes.fromhex(d) for d in settings.tokens]
    client = httpx.AsyncClient(timeout=settings.timeout)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = FastAPI(
        title="Sifang province read router",
        description="One read API over the coordinators partitioned by county.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    def caller(authorization: Annotated[str | None, Header()] = None) -> None:
        token = (authorization or "").removeprefix("Bearer ").strip()
        digest = hashlib.sha256(token.encode()).digest()
        if not token or not any(hmac.compare_digest(digest, known) for known in digests):
            raise Unauthorized("a token of this router is required", field="authorization")

    async def ask(name: str, path: str, params: Params) -> _Answer:
        partition = settings.partitions[name]
        try:
            response = await client.get(
                str(partition.url).rstrip("/") + path,
                params=list(params),
                headers={"Authorization": f"Bearer {partition.token}"},
            )
            data = response.json()
        except (httpx.HTTPError, ValueError):  # no answer, or not JSON: not answering
            return _Answer(None)
        errors = data.get("errors") if isinstance(data, dict) else None
        problem = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        return _Answer(response.status_code, data if response.status_code == 200 else None, problem)

    def passed_on(answers: Mapping[str, _Answer]) -> None:
        """The caller's own mistake, as the first partition told it."""
        for answer in answers.values():
            if answer.callers_mistake:
                raise InvalidInput(
                    answer.problem.get("problem", "refused by a partition"), field=answer.problem.get("field")
                )

    def usable(answers: Mapping[str, _Answer], partial: bool, response: Response) -> list[Any]:
        passed_on(answers)
        down = [name for name, answer in answers.items() if not answer.ok]
        if down and not partial:
            raise PartitionsDown(down)
        if down:
            response.headers[MISSING_HEADER] = ", ".join(down)
        return [answer.data for answer in answers.values() if answer.ok]

    Partial = Annotated[bool, Query(description="answer from the partitions that answer, naming the rest")]

    def merged_list(path: str, key: Callable[[dict[str, Any]], Any]) -> None:
        @app.get(path, dependencies=[Depends(caller)], summary=f"{path} of every partition, merged")
        async def listing(
            request: Request,
            response: Response,
            limit: Limit = 100,
            offset: Offset = 0,
            partial: Partial = False,
        ) -> list[dict[str, Any]]:
            wanted = offset + limit  # each partition's first offset+limit rows hold the page
            if wanted > MAX_DEPTH:
                raise InvalidInput(
                    f"offset + limit reaches at most {MAX_DEPTH} across partitions", field="offset"
                )
            params = [
                (k, v)
                for k, v in request.query_params.multi_items()
                if k not in ("limit", "offset", "partial")
            ]
            names = list(settings.partitions)
            pages = await asyncio.gather(*(first_rows(name, path, params, wanted) for name in names))
            rows = [
                row
                for page in usable(dict(zip(names, pages, strict=True)), partial, response)
                for row in page
            ]
            rows.sort(key=key)
            return rows[offset:wanted]

    async def first_rows(name: str, path: str, params: Params, wanted: int) -> _Answer:
        rows: list[dict[str, Any]] = []
        while len(rows) < wanted:
            size = min(MAX_LIMIT, wanted - len(rows))
            answer = await ask(name, path, [*params, ("limit", str(size)), ("offset", str(len(rows)))])
            if not answer.ok or not isinstance(answer.data, list):
                return answer if not answer.ok else _Answer(None)
            rows += answer.data
            if len(answer.data) < size:
                break
        return _Answer(200, rows)

    merged_list("/needs", lambda row: (datetime.fromisoformat(row["published_at"]), row["id"]))
    merged_list("/offers", lambda row: (datetime.fromisoformat(row["published_at"]), row["id"]))
    merged_list(
        "/matches", lambda row: (-datetime.fromisoformat(row["updated_at"]).timestamp(), row["match_id"])
    )

    @app.get("/healthz", summary="The router is up (it does not ask the partitions: see /partitions)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/organisations", dependencies=[Depends(caller)], summary="Every organisation (from any partition)"
    )
    async def organisations(request: Request) -> Any:
        for name in settings.partitions:
            answer = await ask(name, "/organisations", request.query_params.multi_items())
            passed_on({name: answer})
            if answer.ok:
                return answer.data
        raise PartitionsDown(list(settings.partitions))

    @app.get(
        "/partitions",
        dependencies=[Depends(caller)],
        summary="Each partition, its counties and whether it answers",
    )
    async def partitions() -> list[dict[str, Any]]:
        names = list(settings.partitions)
        answers = await asyncio.gather(*(ask(name, "/partition", []) for name in names))
        return [
            {"name": name, "url": str(settings.partitions[name].url), "answering": answer.ok}
            | (
                answer.data
                if answer.ok and isinstance(answer.data, dict)
                else {"consumer": None, "regions": None}
            )
            for name, answer in zip(names, answers, strict=True)
        ]

    async def one(path: str, item: str, params: Params) -> Any:
        """The item from the partition that has it: 404 only when every partition says so."""
        if not ITEM_ID.match(item):
            raise InvalidInput("an id has letters, digits, - and _ only", field="id")
        names = list(settings.partitions)
        answers = dict(
            zip(
                names,
                await asyncio.gather(*(ask(n, path.format(quote(item)), params) for n in names)),
                strict=True,
            )
        )
        for answer in answers.values():
            if answer.ok:
                return answer.data
        passed_on(answers)
        down = [name for name, answer in answers.items() if answer.status != 404]
        if down:
            raise PartitionsDown(down)
        raise NotFound(f"no partition has {item!r}", field="id")

    for path in ("/needs/{}", "/offers/{}", "/matches/{}", "/needs/{}/diagnosis", "/offers/{}/diagnosis"):
        _route_one(app, path, one, caller)

    return app


def _route_one(app: FastAPI, path: str, one: Any, caller: Callable[..., None]) -> None:
    @app.get(
        path.format("{item}"),
        dependencies=[Depends(caller)],
        summary=f"{path.format('{id}')} from the partition that has it",
    )
    async def item(item: str, request: Request) -> Any:
        return await one(path, item, request.query_params.multi_items())
