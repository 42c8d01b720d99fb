"""Every label of the dashboard, in Chinese and English: the pages' words, units and categories."""

import functools
from decimal import Decimal, InvalidOperation
from typing import Literal

from shared.taxonomy import CATEGORIES
from shared.units import InvalidUnit, canonical_unit

__all__ = ["LABELS", "UNITS", "Lang", "amount", "category_label", "t", "unit_label"]

Lang = Literal["zh", "en"]

LABELS: dict[str, tuple[str, str]] = {
    "app": ("四方协同", "Sifang"),
    "tagline": ("农村电商四方联动协调平台", "Four-party coordination for rural e-commerce"),
    "overview": ("总览", "Overview"),
    "matches": ("匹配", "Matches"),
    "needs": ("需求", "Needs"),
    "offers": ("供给", "Offers"),
    "meetings": ("会议", "Meetings"),
    "actions": ("行动事项", "Actions"),
    "province": ("全省", "Province"),
    "market": ("市场信息", "Market"),
    "market_signals": ("当前信号", "Current signals"),
    "market_trends": ("各类别逐月供需", "Demand and supply by month"),
    "market_note": (
        "按区县、类别族和月份（北京时间，按条目首次发布）汇总未撤回的需求与供给；与该类别本地往月水平相比，"
        "需求明显高出为“短缺”，供给明显高出为“过剩”。",
        "Needs and offers not withdrawn, by county, category family and month (China Standard Time, "
        "of first publication); compared with the family's own earlier months here, demand well above "
        "is a shortage, supply well above a glut.",
    ),
    "no_signals": ("目前没有短缺或过剩信号", "No shortage or glut at the moment"),
    "demand": ("需求量", "Demand"),
    "supply": ("供给量", "Supply"),
    "matched_share": ("已匹配比例", "Matched"),
    "days_to_match": ("匹配用时（天，中位数）", "Days to match (median)"),
    "month": ("月份", "Month"),
    "signal": ("信号", "Signal"),
    "shortage": ("短缺", "shortage"),
    "glut": ("过剩", "glut"),
    "balanced": ("平衡", "balanced"),
    "open_data": ("开放数据", "Open data"),
    "disputes": ("纠纷调解", "Mediation"),
    "disputes_note": (
        "村社提出的纠纷先由中立的社会工作组织调解：指定调解人（3 天内）、各方陈述（7 天）、"
        "提出调解方案（14 天）、各方接受或拒绝（7 天）。超时先提醒，超过两倍时限或调解失败"
        "即提交下次联席会议；结果记入本县的哈希链。",
        "A community's dispute goes to a neutral social-work organisation first: a mediator is named "
        "(within 3 days), the parties state their case (7 days), the mediator proposes a settlement "
        "(14 days), each party accepts or rejects it (7 days). Past a limit those who must act are "
        "reminded; at twice the limit, or when mediation fails, the dispute goes to the next joint "
        "meeting. Outcomes enter the county's hash chain.",
    ),
    "no_disputes": ("暂无纠纷", "No dispute"),
    "awaiting_mediator": ("待指定调解人", "awaiting a mediator"),
    "in_mediation": ("调解中", "in mediation"),
    "settled": ("已调解成功", "settled"),
    "escalated": ("已提交联席会议", "escalated to the joint meeting"),
    "mediator": ("调解人", "Mediator"),
    "assign_mediator": ("指定调解人", "Name the mediator"),
    "parties": ("当事方", "Parties"),
    "step": ("当前环节", "Step"),
    "step_assign_mediator": ("指定调解人", "naming a mediator"),
    "step_statements": ("各方陈述", "the parties' statements"),
    "step_settlement": ("提出调解方案", "a settlement proposal"),
    "step_answers": ("各方答复方案", "the parties' answers"),
    "deadline": ("期限", "Deadline"),
    "waiting_for": ("等待", "Waiting for"),
    "mediation_history": ("经过", "History"),
    "history_raised": ("提出纠纷", "raised"),
    "history_mediator_assigned": ("指定调解人", "mediator named"),
    "history_statement": ("陈述", "statement"),
    "history_settlement_proposed": ("提出调解方案", "settlement proposed"),
    "history_settlement_accepted": ("接受方案", "settlement accepted"),
    "history_settlement_rejected": ("拒绝方案", "settlement rejected"),
    "history_reminder": ("超时提醒", "reminder"),
    "history_time_limit_exceeded": ("超过时限", "time limit exceeded"),
    "history_mediation_failed": ("调解失败", "mediation failed"),
    "history_decided_at_meeting": ("联席会议已作出决定", "decided at a joint meeting"),
    "chain_record": ("哈希链记录", "Record in the chain"),
    "coordinators": ("协调员", "the coordinators"),
    "statements": ("各方陈述", "Statements"),
    "settlements": ("调解方案", "Settlements"),
    "reminders": ("提醒", "Reminders"),
    "accept": ("接受", "accepted"),
    "reject": ("拒绝", "rejected"),
    "projects": ("跨界项目", "Projects"),
    "projects_note": (
        "两类及以上主体（政府、企业、社会组织、村社）共同开展的项目：成员与分工、里程碑、进展、预算（可由专项资金份额资助）与结项报告。"
        "逾期的里程碑会自动列入下次联席会议议程。",
        "Projects two or more kinds of party run together (government, enterprise, social "
        "organisation, community): members and roles, milestones, progress, a budget that special "
        "funds may draw on, and a closing report. Overdue milestones come back on the next joint "
        "meeting's agenda by themselves.",
    ),
    "no_projects": ("暂无跨界项目", "No project yet"),
    "start_project": ("同时启动跨界项目", "Also start a cross-sector project"),
    "lead": ("牵头方", "Lead"),
    "members": ("成员", "Members"),
    "role": ("分工", "Role"),
    "answer": ("答复", "Answer"),
    "joined": ("已加入", "joined"),
    "answer_pending": ("待答复", "pending"),
    "project_proposed": ("待成员答复", "proposed"),
    "milestone_open": ("未开始", "open"),
    "declined_answer": ("已谢绝", "declined"),
    "unregistered": ("未注册", "unregistered"),
    "milestones": ("里程碑", "Milestones"),
    "due_date": ("截止日期", "Due"),
    "progress": ("进展", "Progress"),
    "budget": ("预算", "Budget"),
    "budget_line": ("预算科目", "Budget line"),
    "fund_source": ("资金来源", "Funded from"),
    "allocated": ("已安排", "Allocated"),
    "closing_report": ("结项报告", "Closing report"),
    "origin": ("发起", "Started by"),
    "origin_party": ("主体发起", "a party"),
    "origin_decision": ("联席会议决定", "a joint meeting's decision"),
    "active": ("进行中", "active"),
    "completed": ("已完成", "completed"),
    "abandoned": ("已终止", "abandoned"),
    "funds": ("专项资金", "Funds"),
    "funds_note": (
        "各局在自己的系统中记账（到账、分配、拨付、退回），此处按其事件重建并再次核对：任何份额的分配不超过其额度，"
        "拨付不超过已到账资金。",
        "Each bureau keeps its ledger in its own system (tranches, allocations, payments, returns); "
        "it is rebuilt here from its events and checked again: no share is allocated beyond its "
        "earmark, nor paid beyond the money it received.",
    ),
    "no_funds": ("暂无专项资金", "No fund yet"),
    "fiscal_year": ("年度", "Year"),
    "fund_share": ("份额", "Share"),
    "purpose": ("用途", "Purpose"),
    "ecommerce_infrastructure": ("电商基础设施", "E-commerce infrastructure"),
    "social_work": ("社会工作服务", "Social-work services"),
    "other": ("其他", "Other"),
    "planned": ("额度", "Earmarked"),
    "received": ("已到账", "Received"),
    "committed": ("已分配", "Committed"),
    "paid": ("已拨付", "Paid out"),
    "uncommitted": ("可分配", "Uncommitted"),
    "utilisation_rate": ("执行率", "Utilisation"),
    "by_share": ("各份额分配与拨付", "Committed and paid, by share"),
    "by_quarter": ("逐季度分配与拨付", "Allocated and paid, by quarter"),
    "by_township": ("各乡镇拨付", "Paid out, by township"),
    "allocations": ("分配明细", "Allocations"),
    "township": ("乡镇", "Township"),
    "recipient": ("接收方", "Recipient"),
    "amount": ("金额", "Amount"),
    "disbursed": ("已拨付", "Disbursed"),
    "returned": ("已退回", "Returned"),
    "funded_match": ("资助的匹配", "Funded match"),
    "project": ("项目", "Project"),
    "yuan": ("元", " yuan"),
    "partition": ("协调分区", "Partition"),
    "counties": ("所辖区县", "Counties"),
    "answering": ("在线", "answering"),
    "not_answering": ("未响应", "not answering"),
    "this_partition": ("本分区", "this partition"),
    "every_county": ("全部区县", "every county"),
    "province_not_configured": (
        "未配置全省读取路由（COORDINATOR_PROVINCE_URL）：仅显示本协调服务负责的区县。",
        "No province read router is configured (COORDINATOR_PROVINCE_URL): only this "
        "coordinator's own counties are shown.",
    ),
    "province_unreachable": ("无法读取全省路由：{error}", "The province read router cannot be read: {error}"),
    "partitions_missing": (
        "以下分区未响应，其需求未列出：{names}",
        "These partitions did not answer; their needs are not listed: {names}",
    ),
    "longest_waiting": (
        "全省未满足需求（等待最久的在前）",
        "Open needs of the province (longest waiting first)",
    ),
    "county": ("区县", "County"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "wrong_login": ("用户名或密码错误", "Wrong username or password"),
    "login_locked": (
        "登录失败次数过多，已暂停登录：请于 {time}（北京时间，约 {minutes} 分钟后）再试",
        "Too many failed sign-ins: signing in is paused. Try again after {time} "
        "(China Standard Time, in about {minutes} min)",
    ),
    "open_needs": ("未满足需求", "Open needs"),
    "open_offers": ("可用供给", "Open offers"),
    "match_rate": ("匹配率", "Match rate"),
    "median_time": ("匹配中位时长", "Median time to match"),
    "fulfilment_rate": ("履约率", "Fulfilment rate"),
    "hours": ("小时", "h"),
    "by_state": ("匹配状态", "Matches by state"),
    "by_kind": ("按主体类型", "By stakeholder kind"),
    "by_category": ("按类别", "By category"),
    "by_village": ("按村镇", "By village"),
    "live": ("实时动态", "Live events"),
    "proposed": ("待确认", "proposed"),
    "confirmed": ("已确认", "confirmed"),
    "fulfilled": ("已履约", "fulfilled"),
    "declined": ("已拒绝", "declined"),
    "expired": ("已过期", "expired"),
    "withdrawn": ("已撤回", "withdrawn"),
    "open": ("开放", "open"),
    "status": ("状态", "Status"),
    "all": ("全部", "All"),
    "filter": ("筛选", "Filter"),
    "search": ("搜索", "Search"),
    "need": ("需求", "Need"),
    "offer": ("供给", "Offer"),
    "quantity": ("数量", "Quantity"),
    "score": ("得分", "Score"),
    "explanation": ("匹配说明", "Explanation"),
    "nudge": ("提醒", "Nudge"),
    "withdraw": ("撤回", "Withdraw"),
    "queued": ("已提交，稍后生效", "sent; it takes effect shortly"),
    "reason": ("原因", "Reason"),
    "title": ("标题", "Title"),
    "category": ("类别", "Category"),
    "region": ("地区", "Region"),
    "organisation": ("组织", "Organisation"),
    "kind": ("类型", "Kind"),
    "history": ("历史", "History"),
    "diagnosis": ("为何未匹配", "Why not matched"),
    "why_not": ("未通过的筛选", "Filter it fails"),
    "passes_all_filters": (
        "通过全部筛选，已分配给其他需求或已建议",
        "passes every filter; allocated elsewhere or proposed",
    ),
    "time": ("时间", "Time"),
    "event": ("事件", "Event"),
    "series": ("会议系列", "Series"),
    "upcoming": ("近期会议", "Upcoming meetings"),
    "agenda": ("议程", "Agenda"),
    "compile": ("生成议程", "Compile agenda"),
    "publish": ("发布议程", "Publish agenda"),
    "save": ("保存", "Save"),
    "add_item": ("添加议题", "Add item"),
    "drop": ("删除", "Drop"),
    "up": ("上移", "Up"),
    "down": ("下移", "Down"),
    "minutes": ("分钟", "min"),
    "version": ("版本", "Version"),
    "room": ("会议室", "Meeting room"),
    "attendance": ("出席", "Attendance"),
    "present": ("出席", "present"),
    "quorum": ("法定人数", "Quorum"),
    "met": ("已达到", "met"),
    "not_met": ("未达到", "not met"),
    "decision": ("决议", "Decision"),
    "outcome": ("结果", "Outcome"),
    "positions": ("各方立场", "Positions"),
    "agree": ("同意", "agree"),
    "object": ("反对", "object"),
    "abstain": ("弃权", "abstain"),
    "approved": ("通过", "approved"),
    "rejected": ("否决", "rejected"),
    "deferred": ("暂缓", "deferred"),
    "referred": ("移交", "referred"),
    "notes": ("会议记录", "Minutes"),
    "action_title": ("行动事项", "Action"),
    "owner": ("责任单位", "Owner"),
    "due": ("截止日期", "Due"),
    "record": ("记录决议", "Record decision"),
    "close": ("闭会并形成纪要", "Close and fix the minutes"),
    "record_locked": ("纪要已锁定", "Minutes locked"),
    "awaiting": ("等待各方确认纪要", "Awaiting the parties' approval"),
    "exports": ("导出", "Exports"),
    "overdue": ("已逾期", "overdue"),
    "in_progress": ("进行中", "in progress"),
    "blocked": ("受阻", "blocked"),
    "done": ("已完成", "done"),
    "by": ("操作人", "By"),
    "starts": ("开始", "Starts"),
    "location": ("地点", "Location"),
    "decided": ("已决", "decided"),
    "no_items": ("暂无", "Nothing yet"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "language": ("English", "中文"),
    "delivered": ("已交付", "delivered"),
    "scheduled": ("已排期", "scheduled"),
    "published": ("议程已发布", "agenda published"),
    "closed": ("已闭会", "closed"),
    "locked": ("已锁定", "locked"),
    "hash": ("记录哈希", "Record hash"),
    "chain_ok": ("记录链完整", "Record chain intact"),
    "government": ("政府", "government"),
    "enterprise": ("企业", "enterprise"),
    "ngo": ("社会组织", "social organisation"),
    "community": ("村社", "community"),
    "pending": ("未回复", "no reply yet"),
    "attend": ("将出席", "will attend"),
    "decline": ("不出席", "declines"),
    "delegate": ("委托出席", "sends a delegate"),
    "joint_meeting": ("联席会议", "joint meeting"),
    "negotiation_meeting": ("项目洽谈会", "project negotiation meeting"),
    "new_series": ("新建会议系列", "New meeting series"),
    "schedule": ("安排会议", "Schedule"),
    "cadence": ("周期", "Cadence"),
    "pages": ("分页", "Pages"),
    "previous": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "page_of": (
        "第 {page}/{pages} 页 · 第 {first}–{last} 条，共 {total} 条",
        "Page {page} of {pages} · {first}–{last} of {total}",
    ),
    "export_csv": ("导出 CSV（全部符合条件的条目）", "Export CSV (every matching row)"),
    "sort_by": ("排序", "Sort by"),
    "unit_column": ("单位", "Unit"),
    "published_at": ("发布时间", "Published"),
    "updated_at": ("更新时间", "Updated"),
    "county_view": ("县域", "County"),
    "county_note": (
        "各乡镇、各村的未满足需求、匹配与履约情况：已确认或已履约的匹配与待确认的匹配相比。",
        "Each township's and village's open needs, matches and fulfilment: matches confirmed or "
        "fulfilled against those still proposed.",
    ),
    "choose_county": ("选择区县", "Choose a county"),
    "village": ("村", "Village"),
    "villages": ("各村", "Villages"),
    "townships": ("各乡镇", "Townships"),
    "township_itself": ("乡镇本级", "the township itself"),
    "county_itself": ("县本级", "the county itself"),
    "matches_total": ("匹配", "Matches"),
    "settled_matches": ("已确认或已履约", "Confirmed or fulfilled"),
    "fulfilment": ("履约情况", "Fulfilment"),
    "organisations": ("组织", "Organisations"),
    "all_needs": ("全部需求", "All needs"),
    "all_offers": ("全部供给", "All offers"),
    "all_matches": ("全部匹配", "All matches"),
}


def t(key: str, lang: Lang) -> str:
    """The label for ``key``; unknown keys show themselves (so a missing one is visible)."""
    zh, en = LABELS.get(key, (key, key))
    return zh if lang == "zh" else en


# Units by the unit registry's name for them (``canonical_unit``): "人", "person" and "persons"
# all read 人 / people. A unit not here is shown as its publisher wrote it.
UNITS: dict[str, tuple[str, str]] = {
    "person": ("人", "people"),
    "seat": ("个座位", "seats"),
    "hour": ("小时", "hours"),
    "day": ("天", "days"),
    "metric_ton": ("吨", "t"),
    "kilogram": ("公斤", "kg"),
    "jin": ("斤", "jin"),
    "piece": ("件", "pieces"),
    "yuan": ("元", "yuan"),
    "wan_yuan": ("万元", "×10,000 yuan"),
    "square_meter": ("平方米", "m²"),
    "second": ("秒", "s"),
}


@functools.cache
def _canonical(unit: str) -> str:
    try:
        return canonical_unit(unit)
    except InvalidUnit:
        return unit


def unit_label(unit: str, lang: Lang) -> str:
    """``unit`` in the page's language: ``"t"`` → 吨 / t, ``"人"`` → 人 / people."""
    zh, en = UNITS.get(_canonical(unit), (unit, unit))
    return zh if lang == "zh" else en


def amount(quantity: object, unit: str, lang: Lang) -> str:
    """A quantity with its unit in the page's language: ``30 人`` / ``30 people``."""
    try:
        number = format(Decimal(str(quantity)).normalize(), "f")
    except InvalidOperation:
        number = str(quantity)
    return f"{number} {unit_label(unit, lang)}"


def category_label(code: str, lang: Lang) -> str:
    """A category's (or a category family's) name in the page's language; unknown codes as they are."""
    category = CATEGORIES.get(code)
    return (category.zh if lang == "zh" else category.en) if category else code
