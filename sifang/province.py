"""The province's read router: one read API over coordinators partitioned by county.

Each partition's coordinator answers for its own counties. The router asks every partition
(with its own read token for each) and merges the answers in the order one coordinator gives:
needs and offers oldest first, matches most recently changed first. Organisations are known to
every partition, so they come from the first that answers. One item (``/needs/{id}``,
``/matches/{id}``, a diagnosis) comes from the partition that has it.

A partition that does not answer is never skipped silently: the request fails with 503 naming
it, unless the caller asks for ``partial=true``, when the answer says in ``Sifang-Missing-
Partitions`` whose items are missing. Callers present one of the router's own tokens
(``PROVINCE_TOKENS`` holds their SHA-256 digests; ``sifang province token`` makes one).
"""

import asyncio
import contextlib
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.paging import MAX_LIMIT, Limit, Offset

__all__ = ["Partition", "ProvinceSettings", "create_app", "new_token"]

MISSING_HEADER = "Sifang-Missing-Partitions"


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


class PartitionsDown(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


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

    def caller(authorization: Annotated[str | None, Header()] = None) -> None:
        token = (authorization or "").removeprefix("Bearer ").strip()
        digest = hashlib.sha256(token.encode()).digest()
        if not token or not any(hmac.compare_digest(digest, known) for known in digests):
            raise HTTPException(401, {"field": "authorization", "message": "a router token is required"})

    async def ask(name: str, path: str, params: Mapping[str, Any]) -> httpx.Response | None:
        partition = settings.partitions[name]
        try:
            return await client.get(
                str(partition.url).rstrip("/") + path,
                params={k: v for k, v in params.items() if v is not None},
                headers={"Authorization": f"Bearer {partition.token}"},
            )
        except httpx.HTTPError:
            return None

    async def ask_all(path: str, params: Mapping[str, Any]) -> dict[str, httpx.Response | None]:
        names = list(settings.partitions)
        answers = await asyncio.gather(*(ask(name, path, params) for name in names))
        return dict(zip(names, answers, strict=True))

    def usable(answers: Mapping[str, "_Rows | None"], partial: bool, response: Response) -> list[Any]:
        """Each answering partition's rows; a partition's 4xx is the caller's (passed on), a
        partition down fails the request unless ``partial``, which names it in a header."""
        down = [n for n, a in answers.items() if a is None or a.status is None or a.status >= 500]
        for answer in answers.values():
            if answer is not None and answer.status is not None and 400 <= answer.status < 500:
                raise HTTPException(answer.status, answer.detail())
        if down and not partial:
            raise PartitionsDown(down)
        if down:
            response.headers[MISSING_HEADER] = ", ".join(down)
        return [a.rows for a in answers.values() if a is not None and a.status == 200]

    @app.exception_handler(PartitionsDown)
    async def partitions_down(_: Request, exc: PartitionsDown) -> Response:
        from fastapi.responses import JSONResponse

        return JSONResponse(
            status_code=503,
            headers={"Retry-After": "5"},
            content={
                "detail": {
                    "field": "partitions",
                    "message": f"partitions not answering: {exc}; ask again, or with partial=true",
                    "partitions": exc.names,
                }
            },
        )

    @app.get("/healthz", summary="The router is up (it does not ask the partitions: see /partitions)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

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
            skipped = ("limit", "offset", "partial")
            params = {k: v for k, v in request.query_params.items() if k not in skipped}
            wanted = offset + limit  # each partition's first offset+limit rows hold the page
            pages = await asyncio.gather(*(first_rows(n, path, params, wanted) for n in settings.partitions))
            rows = [
                row
                for page in usable(dict(zip(settings.partitions, pages, strict=True)), partial, response)
                for row in page
            ]
            rows.sort(key=key)
            return rows[offset:wanted]

    async def first_rows(name: str, path: str, params: dict[str, Any], wanted: int) -> "_Rows | None":
        rows: list[dict[str, Any]] = []
        while len(rows) < wanted:
            size = min(MAX_LIMIT, wanted - len(rows))
            answer = await ask(name, path, params | {"limit": size, "offset": len(rows)})
            if answer is None or answer.status_code >= 300:
                return _Rows(answer.status_code if answer is not None else None, answer)
            page = answer.json()
            rows += page
            if len(page) < size:
                break
        return _Rows(200, None, rows)

    merged_list("/needs", lambda row: (datetime.fromisoformat(row["published_at"]), row["id"]))
    merged_list("/offers", lambda row: (datetime.fromisoformat(row["published_at"]), row["id"]))
    merged_list(
        "/matches", lambda row: (-datetime.fromisoformat(row["updated_at"]).timestamp(), row["match_id"])
    )

    @app.get(
        "/organisations", dependencies=[Depends(caller)], summary="Every organisation (from any partition)"
    )
    async def organisations(request: Request) -> Any:
        for name in settings.partitions:
            answer = await ask(name, "/organisations", dict(request.query_params))
            if answer is not None and answer.status_code < 500:
                if answer.status_code >= 400:
                    raise HTTPException(answer.status_code, answer.json().get("detail", answer.text))
                return answer.json()
        raise PartitionsDown(list(settings.partitions))

    @app.get(
        "/partitions",
        dependencies=[Depends(caller)],
        summary="Each partition, its counties and whether it answers",
    )
    async def partitions() -> list[dict[str, Any]]:
        answers = await ask_all("/partition", {})
        return [
            {
                "name": name,
                "url": str(settings.partitions[name].url),
                "answering": a is not None and a.status_code == 200,
            }
            | (a.json() if a is not None and a.status_code == 200 else {"consumer": None, "regions": None})
            for name, a in answers.items()
        ]

    for path in (
        "/needs/{item}",
        "/offers/{item}",
        "/matches/{item}",
        "/needs/{item}/diagnosis",
        "/offers/{item}/diagnosis",
    ):
        _one(app, path, ask_all, caller)

    return app


def _one(app: FastAPI, path: str, ask_all: Any, caller: Callable[..., None]) -> None:
    @app.get(path, dependencies=[Depends(caller)], summary=f"{path} from the partition that has it")
    async def one(item: str) -> Any:
        answers = await ask_all(path.replace("{item}", item), {})
        for answer in answers.values():
            if answer is not None and answer.status_code == 200:
                return answer.json()
        down = [n for n, a in answers.items() if a is None or a.status_code >= 500]
        if down:
            raise PartitionsDown(down)
        raise HTTPException(404, {"field": "id", "message": f"no partition has {item!r}"})


@dataclass
class _Rows:
    """One partition's answer to a listing: its status (None: it did not answer) and rows."""

    status: int | None
    response: httpx.Response | None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def detail(self) -> Any:
        if self.response is None:
            return None
        try:
            return self.response.json().get("detail", self.response.text)
        except ValueError:
            return self.response.text
