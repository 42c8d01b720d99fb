"""A realistic county scenario, loaded through the public APIs: Zhouzhi county (周至县, Xi'an),
kiwifruit country — villages and cooperatives, the commerce bureau, buyers and a logistics
company, social-work organisations, their needs and offers, and a joint-meeting series."""

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sifang.client import Sifang, SifangAPIError

__all__ = ["DEMO_PASSWORD", "load_demo", "steps"]

COUNTY = "610124"
TODAY = date.today()


def _d(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


ORGANISATIONS: list[tuple[str, str, str, str, dict[str, str]]] = [
    ("bureau", "government", "周至县商务局", COUNTY, {"person": "刘建国", "phone": "029-87100000"}),
    ("agri", "government", "周至县农业农村局", COUNTY, {"person": "赵敏"}),
    (
        "qinnong",
        "enterprise",
        "秦农电商有限公司",
        "610124",
        {"person": "陈晨", "email": "chen@qinnong.example"},
    ),
    ("coldchain", "enterprise", "西部冷链物流有限公司", "610100", {"person": "孙伟"}),
    ("station", "ngo", "周至县社会工作服务站", COUNTY, {"person": "李娜"}),
    ("youth", "ngo", "秦岭青年返乡创业协会", COUNTY, {"person": "王磊"}),
    ("mazhao", "community", "马召镇东村猕猴桃专业合作社", "610124104201", {"person": "王强"}),
    ("xicun", "community", "马召镇西村村民委员会", "610124104202", {"person": "张秀兰"}),
    ("louguan", "community", "楼观镇南村果业合作社", "610124105201", {"person": "杨帆"}),
]


# Every demo organisation's people sign in to the portal at their own service as the
# organisation's key (e.g. "xicun" at the community service's /portal) with this password.
DEMO_PASSWORD = "sifang-demo-2026"


def _waited(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """``check()``'s first truthy value: what one service publishes reaches the others in a moment."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not arrive within {timeout:.0f} s")
        time.sleep(0.3)
    return found


def steps(sifang: Sifang) -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    """The scenario as named steps; each reads and adds to the shared state."""

    def register(state: dict[str, Any]) -> None:
        for key, kind, name, region, contact in ORGANISATIONS:
            org, api_key = sifang.register(kind, name, region, contact)
            state[key] = {"id": org["id"], "kind": kind, "api_key": api_key, "name": name}

    def api(state: dict[str, Any], key: str) -> Any:
        return sifang.stakeholder(state[key]["kind"], state[key]["api_key"])

    def portal_accounts(state: dict[str, Any]) -> None:
        """One portal account per organisation, made by its own system with its key."""
        for key, _, _, _, contact in ORGANISATIONS:
            api(state, key).create(
                f"/organisations/{state[key]['id']}/portal-accounts",
                username=key,
                display_name=contact["person"],
                password=DEMO_PASSWORD,
                role="admin",
            )
            state[key]["portal_username"] = key

    def lots(state: dict[str, Any]) -> None:
        for key, variety, quantity, unit in (
            ("mazhao", "翠香", 12, "t"),
            ("louguan", "徐香", 8, "t"),
            ("xicun", "海沃德", 6000, "斤"),
        ):
            api(state, key).create(
                "/lots",
                product_category="produce.fruit.kiwifruit",
                variety=variety,
                grade="一级",
                quantity=quantity,
                unit=unit,
                certifications=["green-food"],
                window_start=_d(-10),
                window_end=_d(50),
                service_area=[COUNTY],
            )

    def procurement(state: dict[str, Any]) -> None:
        api(state, "qinnong").create(
            "/procurements",
            title="年货节猕猴桃集采",
            product_category="produce.fruit.kiwifruit",
            grade="一级",
            quantity=20,
            unit="t",
            max_price_per_unit=9000,
            window_start=_d(0),
            window_end=_d(40),
            region=COUNTY,
        )

    def services(state: dict[str, Any]) -> None:
        api(state, "coldchain").post_offer(
            category="logistics.cold_chain",
            title="冷链干线运输（西安—周至）",
            quantity=40,
            unit="t",
            service_area=["610100"],
            window_start=_d(0),
            window_end=_d(90),
        )
        api(state, "station").create(
            "/courses",
            title="直播带货初级班",
            tier="basic",
            topic="training.livestream",
            seats=40,
            start_date=_d(14),
            end_date=_d(16),
            venue="县电商公共服务中心",
            service_area=[COUNTY],
        )
        api(state, "youth").create(
            "/courses",
            title="农村电商创业孵化营",
            tier="incubation",
            topic="training.incubation",
            seats=15,
            start_date=_d(30),
            end_date=_d(60),
            service_area=[COUNTY],
        )
        api(state, "bureau").create(
            "/programmes",
            name="2026年电子商务进农村综合示范补贴",
            programme_kind="subsidy",
            budget=800000,
            service_area=[COUNTY],
            eligibility={
                "organisation_kinds": ["community"],
                "regions": [COUNTY],
                "required_certifications": ["green-food"],
                "max_amount": 50000,
            },
        )

    def needs(state: dict[str, Any]) -> None:
        for key in ("mazhao", "xicun", "louguan"):
            api(state, key).post_need(
                category="training.livestream",
                title="村民直播带货培训",
                quantity=25,
                unit="人",
                window_start=_d(7),
                window_end=_d(60),
            )
        api(state, "qinnong").post_need(  # more live-stream training wanted than seats: a shortage
            category="training.livestream",
            title="电商客服直播技能培训",
            quantity=30,
            unit="人",
            window_start=_d(7),
            window_end=_d(60),
        )
        api(state, "mazhao").post_need(
            category="logistics.cold_chain",
            title="采摘季冷链运输",
            quantity=15,
            unit="t",
            window_start=_d(0),
            window_end=_d(45),
        )
        api(state, "louguan").post_need(
            category="funding.subsidy", title="分拣包装设备补贴", quantity=4, unit="万元"
        )
        api(state, "xicun").post_need(
            category="brand.design", title="村级品牌包装设计", quantity=40, unit="hour"
        )
        state["dispute"] = api(state, "xicun").create(
            "/disputes",
            title="收购价格与合同纠纷",
            description="部分农户反映收购价低于约定",
            other_parties=[state["qinnong"]["id"]],
        )["dispute_id"]
        api(state, "qinnong").propose_agenda_item(
            title="共建“周至猕猴桃”区域公用品牌", description="统一包装、分级标准与溯源"
        )
        api(state, "station").propose_agenda_item(
            title="社工站与村级电商服务站共建", description="留守妇女与老人参与电商服务的支持"
        )

    def special_fund(state: dict[str, Any]) -> None:
        bureau = api(state, "bureau")
        fund = bureau.create(
            "/funds",
            name=f"{TODAY.year}年电子商务与社会工作协同专项资金",
            fiscal_year=TODAY.year,
            description="电商基础设施与社会工作服务项目两部分，互为补充",
            shares=[
                {
                    "share": "ecommerce",
                    "name": "电商基础设施（冷链、物流点、网络）",
                    "purpose": "ecommerce_infrastructure",
                    "amount": "1200000",
                },
                {
                    "share": "social_work",
                    "name": "社会工作服务项目",
                    "purpose": "social_work",
                    "amount": "500000",
                },
            ],
        )
        path = f"/funds/{fund['id']}"
        bureau.create(
            path + "/tranches",
            received_on=_d(-150),
            source="省级财政转移支付（第一批）",
            amounts={"ecommerce": "700000", "social_work": "300000"},
        )
        cold, points, station = (
            bureau.create(
                path + "/allocations",
                share=share,
                amount=amount,
                allocated_on=_d(days),
                township=township,
                purpose=purpose,
                project=project,
                **recipient,
            )
            for share, amount, days, township, purpose, project, recipient in (
                (
                    "ecommerce",
                    "450000",
                    -120,
                    "610124104",
                    "马召镇猕猴桃冷链集配中心",
                    "冷链集配中心建设",
                    {"recipient_organisation_id": state["mazhao"]["id"]},
                ),
                (
                    "ecommerce",
                    "180000",
                    -40,
                    "610124105",
                    "楼观镇村级电商物流服务点（6个）",
                    "村级物流点",
                    {"recipient_name": "县邮政分公司"},
                ),
                (
                    "social_work",
                    "160000",
                    -100,
                    "610124104",
                    "留守妇女直播技能与心理支持项目",
                    "社工站赋能项目",
                    {"recipient_organisation_id": state["station"]["id"]},
                ),
            )
        )
        for allocation, amount, days, reference in (
            (cold, "300000", -90, "周财验〔2026〕31号 验收单"),
            (cold, "120000", -20, "冷库设备发票 FP-0417"),
            (points, "60000", -10, "物流点建设合同 HT-2026-06"),
            (station, "90000", -60, "项目中期评估报告"),
        ):
            bureau.create(
                f"{path}/allocations/{allocation['id']}/disbursements",
                amount=amount,
                paid_on=_d(days),
                evidence=[{"kind": "acceptance", "reference": reference}],
            )
        bureau.create(
            f"{path}/allocations/{station['id']}/returns",
            return_kind="repaid",
            amount="8000",
            returned_on=_d(-5),
            reason="培训场地费结余退回",
        )
        state["fund"] = fund["id"]

    def joint_project(state: dict[str, Any]) -> None:
        # the coordinator knows the fund before the project's budget line names it
        def fund_known() -> Any:
            try:
                return sifang.coordinator.get(f"/open-data/funds/{state['fund']}")
            except SifangAPIError:
                return None

        _waited(fund_known, "the fund")
        village = api(state, "louguan")
        proposed = village.create(
            "/projects",
            title="楼观镇公益助农直播节",
            description="社工站组织留守妇女参与，电商企业提供直播间与流量，合作社供货",
            role="供货与组织农户",
            members=[
                {"organisation_id": state["station"]["id"], "role": "社工陪伴与培训"},
                {"organisation_id": state["qinnong"]["id"], "role": "直播运营与推广"},
            ],
            milestones=[
                {"title": "前期调研与农户动员", "due_date": _d(-3)},
                {"title": "直播节举办", "due_date": _d(25)},
                {"title": "复盘与结项", "due_date": _d(45)},
            ],
            budget_lines=[
                {
                    "line": "training",
                    "title": "直播培训与社工服务",
                    "amount": "60000",
                    "fund_id": state["fund"],
                    "share": "social_work",
                },
                {"line": "promotion", "title": "直播推广（企业自筹）", "amount": "30000"},
            ],
        )
        project_id = proposed["project_id"]

        def seen_by(key: str) -> Any:
            party = api(state, key)

            def holds_it() -> list[Any]:
                return [p for p in party.projects() if p["project_id"] == project_id]

            _waited(holds_it, f"the project at {key}")
            return party

        for key in ("station", "qinnong"):
            seen_by(key).answer_project(project_id, "join")
        bureau = seen_by("bureau")
        bureau.create(
            f"/funds/{state['fund']}/allocations",
            share="social_work",
            amount="40000",
            allocated_on=_d(-2),
            township="610124105",
            purpose="公益助农直播节的培训与社工服务",
            project_id=project_id,
            budget_line="training",
            recipient_organisation_id=state["station"]["id"],
        )
        state["project"] = project_id

    def mediation(state: dict[str, Any]) -> None:
        dispute_id = state["dispute"]

        def raised() -> Any:
            try:
                return sifang.coordinator.get(f"/disputes/{dispute_id}")
            except SifangAPIError:
                return None

        _waited(raised, "the dispute at the coordinator")
        sifang.coordinator.post(
            f"/disputes/{dispute_id}/mediator", {"mediator_organisation_id": state["station"]["id"]}
        )

        def party(key: str, **expect: Any) -> Any:
            client = api(state, key)

            def sees_it() -> bool:
                found = [d for d in client.disputes() if d["dispute_id"] == dispute_id]
                return bool(found) and all(found[0].get(k) == v for k, v in expect.items())

            _waited(sees_it, f"the dispute at {key}")
            return client

        party("xicun", status="in_mediation").state_case(
            dispute_id,
            "合同约定一级果 8 元/斤，实际按 6.5 元/斤结算，涉及 23 户",
            "https://example.invalid/contract.pdf",
        )
        party("qinnong", status="in_mediation").state_case(
            dispute_id, "约三成果品糖度未达一级标准，按二级收购"
        )
        proposed = party("station", step="settlement").propose_settlement(
            dispute_id,
            "第三方复检糖度：达标部分补足 8 元/斤差价，其余按 6.5 元/斤；今后收购当场抽检并签字确认",
        )
        party("xicun", step="answers").answer_settlement(dispute_id, proposed["settlement_id"], "accept")

    def meetings(state: dict[str, Any]) -> None:
        invited = [state[key]["id"] for key, *_ in ORGANISATIONS]
        series = sifang.coordinator.create_series(
            name="周至县电子商务发展联席会议",
            kind="joint",
            region=COUNTY,
            cadence="每月第一个周三",
            duration_minutes=120,
            invited=invited,
        )
        starts = datetime.now(UTC).replace(hour=1, minute=30, second=0, microsecond=0) + timedelta(days=10)
        meeting = sifang.coordinator.schedule_meeting(
            series["id"],
            title="联席会议（第一次）",
            starts_at=starts.isoformat(),
            location="县电商公共服务中心三楼",
        )
        state["series"], state["meeting"] = series["id"], meeting["id"]

    return [
        ("organisations", register),
        ("portal accounts", portal_accounts),
        ("produce lots", lots),
        ("procurement", procurement),
        ("courses, logistics and a subsidy", services),
        ("needs, a dispute, a proposal", needs),
        ("a special fund and its ledger", special_fund),
        ("a cross-sector project", joint_project),
        ("mediating the dispute", mediation),
        ("a joint-meeting series", meetings),
    ]


def load_demo(sifang: Sifang, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run every step; returns the organisations (with their API keys) and the meeting ids."""
    state: dict[str, Any] = {}
    for name, step in steps(sifang):
        progress(name)
        step(state)
    return state
