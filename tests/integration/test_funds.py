"""The special fund end to end on each backend, without the network: a county bureau keeps its
fund's ledger through the government service, which refuses what would over-allocate or
over-disburse a share; the coordinator applies the same entries from the service's outbox,
checks the rules again (a forged entry is refused with its reason), applies them in ledger
order whatever order they arrive in, serves the utilisation report as JSON and CSV, and a
replay of its stream reproduces it exactly."""

import csv
import io
import re
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from services.coordinator.app import CoordinatorSettings
from services.coordinator.app import create_app as create_coordinator
from services.coordinator.funds.models import LedgerFund
from services.government.app import SETTINGS as GOVERNMENT
from services.government.app import create_app as create_government
from shared.events.catalogue import CATALOGUE
from shared.events.data import FundAllocated
from shared.events.envelope import CloudEvent
from shared.messaging.consumer import EventRejected
from shared.messaging.models import OutboxMessage
from sifang.platform import LocalNats
from sifang.replay_compare import COORDINATOR_TABLES, compare_databases
from tests import factories
from tests.integration.streams import Stream

ADMIN = {"Authorization": "Bearer test-admin-token-0123456789"}
COUNTY = "610124"  # 周至县
TOWNSHIP = "610124104"  # 马召镇
FUND = {
    "name": "2026年电子商务进农村与社会工作协同专项资金",
    "fiscal_year": 2026,
    "shares": [
        {
            "share": "ecommerce",
            "name": "电商基础设施（冷链、物流点）",
            "purpose": "ecommerce_infrastructure",
            "amount": "1000000",
        },
        {"share": "social_work", "name": "社会工作服务项目", "purpose": "social_work", "amount": "400000"},
    ],
}


class Bureau:
    """A government organisation speaking to its service over HTTP."""

    def __init__(self, client: TestClient, url: str) -> None:
        self.client, self.url = client, url
        response = client.post(
            "/organisations", headers=ADMIN, json={"name": "周至县商务局", "region": COUNTY}
        )
        assert response.status_code == 201, response.text
        self.org = response.json()["organisation"]
        self.auth = {"Authorization": f"Bearer {response.json()['api_key']}"}

    def post(self, path: str, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
        response = self.client.post(path, json=body, headers=self.auth)
        assert response.status_code == expect, response.text
        return response.json()  # type: ignore[no-any-return]

    def outbox(self) -> list[tuple[str, bytes]]:
        engine = create_engine(self.url)
        with engine.connect() as connection:
            rows = connection.execute(
                select(OutboxMessage.subject, OutboxMessage.payload).order_by(OutboxMessage.id)
            )
            found = [(subject, payload.encode()) for subject, payload in rows]
        engine.dispose()
        return found


@pytest.fixture
def bureau(service_database: Callable[[str], str], nats_server: LocalNats) -> Iterator[Bureau]:
    url = service_database("government")
    settings = GOVERNMENT(database_url=url, nats_url=nats_server.url, admin_token=ADMIN["Authorization"][7:])
    with TestClient(create_government(settings)) as client:
        yield Bureau(client, url)


def project(bureau: Bureau, fund_id: str, share: str, amount: str, **extra: str) -> dict[str, Any]:
    body = {
        "share": share,
        "amount": amount,
        "allocated_on": "2026-04-10",
        "township": TOWNSHIP,
        "purpose": "冷链集配中心",
        "project": "马召镇猕猴桃冷链集配中心",
        "recipient_name": "马召镇猕猴桃合作社",
        **extra,
    }
    return bureau.post(f"/funds/{fund_id}/allocations", body)


def ledger(bureau: Bureau) -> tuple[str, dict[str, str]]:
    """A fund with a tranche, three allocations, payments, a repayment and a release."""
    fund = bureau.post("/funds", FUND)
    fund_id = fund["id"]
    bureau.post(
        f"/funds/{fund_id}/tranches",
        {
            "received_on": "2026-03-20",
            "source": "省级转移支付",
            "amounts": {"ecommerce": "600000", "social_work": "200000"},
        },
    )
    cold = project(bureau, fund_id, "ecommerce", "700000")
    station = project(
        bureau,
        fund_id,
        "social_work",
        "150000",
        township="610124106",
        purpose="留守老人电商服务站",
        project="社工站",
    )
    points = project(
        bureau,
        fund_id,
        "ecommerce",
        "250000",
        township="610124106",
        allocated_on="2026-07-02",
        purpose="村级物流点",
    )
    evidence = [{"kind": "invoice", "reference": "FP-2026-0417", "sha256": "ab" * 32}]
    bureau.post(
        f"/funds/{fund_id}/allocations/{cold['id']}/disbursements",
        {"amount": "500000", "paid_on": "2026-05-15", "evidence": evidence},
    )
    bureau.post(
        f"/funds/{fund_id}/allocations/{station['id']}/disbursements",
        {"amount": "150000", "paid_on": "2026-07-20", "evidence": evidence},
    )
    bureau.post(
        f"/funds/{fund_id}/allocations/{station['id']}/returns",
        {"return_kind": "repaid", "amount": "20000", "returned_on": "2026-10-08", "reason": "结余退回"},
    )
    bureau.post(
        f"/funds/{fund_id}/allocations/{points['id']}/returns",
        {
            "return_kind": "released",
            "amount": "50000",
            "returned_on": "2026-10-09",
            "reason": "两个物流点合并",
        },
    )
    return fund_id, {"cold": cold["id"], "station": station["id"], "points": points["id"]}


def test_the_bureau_keeps_its_ledger_and_no_share_is_over_allocated_or_over_disbursed(bureau: Bureau) -> None:
    fund_id, allocations = ledger(bureau)
    shares = {
        s["share"]: s for s in bureau.client.get(f"/funds/{fund_id}", headers=bureau.auth).json()["shares"]
    }
    assert shares["ecommerce"] | {"name": ""} == {
        "share": "ecommerce",
        "name": "",
        "purpose": "ecommerce_infrastructure",
        "planned": "1000000.00",
        "received": "600000.00",
        "committed": "900000.00",
        "paid": "500000.00",
        "uncommitted": "100000.00",
        "cash": "100000.00",
    }
    assert (shares["social_work"]["committed"], shares["social_work"]["paid"]) == ("130000.00", "130000.00")

    over = bureau.post(f"/funds/{fund_id}/allocations", {**_allocation("ecommerce", "100000.01")}, expect=409)
    assert over["error"] == "conflict" and over["errors"][0]["field"] == "amount"
    assert "at most 100,000.00 yuan can be allocated" in over["message"]
    unpaid = bureau.post(
        f"/funds/{fund_id}/allocations/{allocations['cold']}/disbursements",
        {"amount": "100000.01", "paid_on": "2026-06-01", "evidence": [{"kind": "invoice", "reference": "x"}]},
        expect=409,
    )
    assert "a tranche must come first" in unpaid["message"]
    beyond = bureau.post(
        f"/funds/{fund_id}/tranches",
        {"received_on": "2026-06-01", "amounts": {"social_work": "200000.01"}},
        expect=409,
    )
    assert beyond["errors"][0]["field"] == "amounts.social_work"
    unknown = bureau.post(
        f"/funds/{fund_id}/tranches", {"received_on": "2026-06-01", "amounts": {"roads": "1"}}, expect=422
    )
    assert unknown["errors"][0]["field"] == "amounts.roads"

    entries = bureau.client.get(f"/funds/{fund_id}/entries", headers=bureau.auth).json()
    assert [e["version"] for e in entries] == list(range(1, 10))  # refusals wrote nothing, skipped no number
    types = [CloudEvent.model_validate_json(p).type for _, p in bureau.outbox()]
    assert types[1:] == [
        "sifang.fund.opened.v1",
        "sifang.fund.tranche_received.v1",
        *["sifang.fund.allocated.v1"] * 3,
        *["sifang.fund.disbursed.v1"] * 2,
        *["sifang.fund.returned.v1"] * 2,
    ]


def _allocation(share: str, amount: str) -> dict[str, str]:
    return {
        "share": share,
        "amount": amount,
        "allocated_on": "2026-08-01",
        "township": TOWNSHIP,
        "purpose": "p",
        "project": "p",
    }


def test_bad_fund_input_gets_a_clear_error(bureau: Bureau) -> None:
    fund_id = bureau.post("/funds", FUND)["id"]
    same = bureau.post("/funds", {**FUND, "shares": [FUND["shares"][0]] * 2}, expect=422)  # type: ignore[index]
    assert same["errors"][0]["field"].startswith("shares")
    fen = bureau.post(
        f"/funds/{fund_id}/tranches",
        {"received_on": "2026-06-01", "amounts": {"ecommerce": "0.001"}},
        expect=422,
    )
    assert "amounts" in fen["errors"][0]["field"]
    huge = bureau.post(f"/funds/{fund_id}/allocations", _allocation("ecommerce", "1e30"), expect=422)
    assert huge["errors"][0]["field"] == "amount"
    elsewhere = bureau.post(
        f"/funds/{fund_id}/allocations",
        {**_allocation("ecommerce", "1"), "township": "610125001"},
        expect=422,
    )
    assert elsewhere["errors"][0]["field"] == "township"
    both = bureau.post(
        f"/funds/{fund_id}/allocations", {**_allocation("ecommerce", "1"), "match_id": "m"}, expect=422
    )
    assert "either match_id" in both["message"] or "either match_id" in str(both["errors"])
    no_match = bureau.post(
        f"/funds/{fund_id}/allocations",
        {**_allocation("ecommerce", "1"), "project": "", "match_id": "m-1"},
        expect=404,
    )
    assert no_match["errors"][0]["field"] == "match_id"
    blank = bureau.post(  # empty ids are no ids: a project named in words, no line to check
        f"/funds/{fund_id}/allocations",
        {
            **_allocation("ecommerce", "1"),
            "project": "道路",
            "project_id": "",
            "budget_line": "",
            "match_id": "",
        },
    )
    assert (blank["project_id"], blank["budget_line"], blank["match_id"]) == (None, None, None)
    other = bureau.client.get("/funds/not-a-fund", headers=bureau.auth)
    assert other.status_code == 404


def test_concurrent_allocations_never_over_allocate_a_share(bureau: Bureau) -> None:
    fund_id = bureau.post("/funds", FUND)["id"]
    statuses: list[int] = []

    def allocate() -> None:
        response = bureau.client.post(
            f"/funds/{fund_id}/allocations", json=_allocation("social_work", "150000"), headers=bureau.auth
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=allocate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 201, 409, 409, 409, 409]
    fund = bureau.client.get(f"/funds/{fund_id}", headers=bureau.auth).json()
    assert fund["shares"][1]["committed"] == "300000.00" and fund["version"] == 3


def test_the_coordinator_follows_the_ledger_checks_it_again_and_replays_it(
    bureau: Bureau, service_database: Callable[[str], str], nats_server: LocalNats
) -> None:
    fund_id, allocations = ledger(bureau)
    events = bureau.outbox()
    live = Stream(service_database("coordinator"))
    # the registration first, then the ledger with entries 3 and 4 swapped: 4 waits for 3
    order = [0, 1, 2, 4, 3, *range(5, len(events))]
    for index in order:
        live.apply(*events[index])

    with live.sessions() as session:
        fund = session.get(LedgerFund, fund_id)
        assert fund is not None and fund.version == 9
        assert [(s.share, s.balance().committed, s.balance().paid) for s in fund.shares] == [
            ("ecommerce", Decimal("900000.00"), Decimal("500000.00")),
            ("social_work", Decimal("130000.00"), Decimal("130000.00")),
        ]

    # a forged entry: the next number, but beyond the share's earmark
    forged = FundAllocated(
        fund_id=fund_id,
        organisation_id=bureau.org["id"],
        version=10,
        allocation_id="forged",
        share="ecommerce",
        amount=Decimal("100000.01"),
        allocated_on="2026-11-01",
        township=TOWNSHIP,
        purpose="p",
        project="p",
    )
    subject, envelope = CATALOGUE["sifang.fund.allocated.v1"].build(
        kind="government", organisation_id=bureau.org["id"], region=COUNTY, data=forged
    )
    with pytest.raises(EventRejected, match=re.escape("at most 100,000.00 yuan can be allocated")):
        live.apply(subject, envelope.to_json())
    # an entry that rewrites one already applied
    rewrite = forged.model_copy(update={"version": 5, "amount": Decimal("1")})
    subject, envelope = CATALOGUE["sifang.fund.allocated.v1"].build(
        kind="government", organisation_id=bureau.org["id"], region=COUNTY, data=rewrite
    )
    with pytest.raises(EventRejected, match="cannot be applied again or rewritten"):
        live.apply(subject, envelope.to_json())

    coordinator = create_coordinator(
        CoordinatorSettings(database_url=live.url, nats_url=nats_server.url, admin_token="a" * 32)
    )
    with TestClient(coordinator) as client:
        listed = client.get("/open-data/funds", params={"region": COUNTY}).json()
        assert [f["id"] for f in listed] == [fund_id]
        assert listed[0]["shares"][0]["utilisation_rate"] == pytest.approx(500000 / 600000, abs=1e-4)
        detail = client.get(f"/open-data/funds/{fund_id}").json()
        assert sorted(a["id"] for a in detail["allocations"]) == sorted(allocations.values())
        rows = client.get(f"/open-data/funds/{fund_id}/utilisation").json()
        by_key = {(r["share"], r["township"], r["quarter"]): r for r in rows}
        assert by_key[("ecommerce", TOWNSHIP, "2026-Q2")]["allocated"] == "700000.00"
        assert by_key[("ecommerce", TOWNSHIP, "2026-Q2")]["paid"] == "500000.00"
        assert by_key[("ecommerce", "610124106", "2026-Q3")]["allocated"] == "250000.00"
        assert by_key[("ecommerce", "610124106", "2026-Q4")]["released"] == "50000.00"
        assert by_key[("social_work", "610124106", "2026-Q4")]["repaid"] == "20000.00"
        assert by_key[("social_work", COUNTY, "2026-Q1")]["received"] == "200000.00"
        text = client.get(f"/open-data/funds/{fund_id}/utilisation.csv")
        assert text.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(text.text)))
        assert len(table) == len(rows) and table[0]["fund_id"] == fund_id
        assert client.get("/open-data/funds/nope").status_code == 404

    replayed = Stream(service_database("coordinator"))
    for subject, payload in live.applied:
        replayed.apply(subject, payload)
    tables = {name: COORDINATOR_TABLES[name] for name in COORDINATOR_TABLES if name.startswith("ledger_")}
    differences = compare_databases(live.url, replayed.url, tables)
    assert differences["ledger_fund_movements"]["rows"] == 9
    assert all(table["identical"] for table in differences.values()), differences


def test_an_entry_from_another_organisation_is_refused(
    bureau: Bureau, service_database: Callable[[str], str]
) -> None:
    fund_id, _ = ledger(bureau)
    live = Stream(service_database("coordinator"))
    for event in bureau.outbox():
        live.apply(*event)
    intruder = "0193a0c0-0000-7000-8000-000000000001"
    subject, envelope = factories.registered(intruder, kind="government", name="别的局")
    live.apply(subject, envelope.to_json())
    stolen = FundAllocated(
        fund_id=fund_id,
        organisation_id=intruder,
        version=10,
        allocation_id="stolen",
        share="ecommerce",
        amount=Decimal("1"),
        allocated_on="2026-11-01",
        township=TOWNSHIP,
        purpose="p",
        project="p",
    )
    subject, envelope = CATALOGUE["sifang.fund.allocated.v1"].build(
        kind="government", organisation_id=intruder, region=COUNTY, data=stolen
    )
    with pytest.raises(EventRejected, match="cannot write its ledger"):
        live.apply(subject, envelope.to_json())
