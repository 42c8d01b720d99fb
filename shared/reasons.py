"""Reasons as data: a code and its parameters, rendered per language only when shown.

The coordinator stores and publishes why it did something (a filter a pair passed or failed,
what limited a proposal's quantity, why a need is not matched) as ``{"code": ..., "params":
{...}}``. Every service renders them with :func:`render` in the reader's language, so a
Chinese page holds no English sentence and a new language is one more column here.

Parameters are plain JSON values; lists are joined with the language's separator and
certification codes are shown by their names (:data:`shared.requirements.CERTIFICATIONS`).
"""

from collections.abc import Mapping
from typing import Any, Literal

from shared.requirements import CERTIFICATIONS
from shared.taxonomy import category_text
from shared.units import unit_text

__all__ = [
    "LANGUAGES",
    "TEXTS",
    "Language",
    "agenda_reason",
    "agenda_rule",
    "language",
    "render",
    "render_reason",
]

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

# code → (zh template, en template); ``{name}`` placeholders take the reason's params.
TEXTS: dict[str, tuple[str, str]] = {
    # filters a pair passes or fails
    "different_organisations": ("双方为不同组织", "the two sides are different organisations"),
    "same_organisation": ("需求与供给来自同一组织", "the need and the offer belong to the same organisation"),
    "category": ("类别 {offer_category} 可满足 {need_category}", "{offer_category} serves {need_category}"),
    "category_mismatch": (
        "类别 {offer_category} 不能满足 {need_category}",
        "{offer_category} cannot serve {need_category}",
    ),
    "need_window_expired": ("需求的时间窗已于 {window_end} 结束", "the need's window ended on {window_end}"),
    "offer_window_expired": (
        "供给的时间窗已于 {window_end} 结束",
        "the offer's window ended on {window_end}",
    ),
    "region_origin": (
        "产地 {origin} 位于需求的来源范围 {area} 内",
        "origin {origin} lies within the sourcing area {area}",
    ),
    "region_origin_outside": (
        "产地 {origin} 不在需求的来源范围 {area} 内",
        "origin {origin} lies outside the sourcing area {area}",
    ),
    "region_service_area": ("服务范围 {area} 覆盖 {region}", "the service area {area} covers {region}"),
    "region_not_served": (
        "服务范围 {service_area} 不覆盖 {region}",
        "the service area {service_area} does not cover {region}",
    ),
    "window_overlap": (
        "时间窗重叠（{need_window} 与 {offer_window}）",
        "the windows overlap ({need_window} and {offer_window})",
    ),
    "window_open_ended": ("至少一方没有时间限制", "at least one side is open-ended in time"),
    "window_disjoint": (
        "时间窗不重叠（{need_window} 与 {offer_window}）",
        "the windows do not overlap ({need_window} and {offer_window})",
    ),
    "units": (
        "{offer_unit} 与 {need_unit} 计量同一类量",
        "{offer_unit} and {need_unit} measure the same thing",
    ),
    "units_mismatch": (
        "{offer_unit} 与 {need_unit} 无法换算",
        "{offer_unit} does not convert to {need_unit}",
    ),
    "required_certifications": ("具备要求的认证：{held}", "holds the required certifications: {held}"),
    "missing_certifications": ("缺少要求的认证：{missing}", "lacks the required certifications: {missing}"),
    "required_grade": ("等级 {grade} 符合要求", "grade {grade} as required"),
    "wrong_grade": ("等级为 {offered}，要求 {required}", "grade is {offered}, {required} is required"),
    "required_standards": ("符合要求的标准：{held}", "meets the required standards: {held}"),
    "missing_standards": ("未达到要求的标准：{missing}", "does not meet the required standards: {missing}"),
    "required_packaging": ("包装 {packaging} 符合要求", "packaging {packaging} as required"),
    "wrong_packaging": (
        "包装为 {offered}，要求 {required}",
        "packaging is {offered}, {required} is required",
    ),
    "price_in_range": ("价格 {price} 元/{unit} 在可接受范围内", "price {price} yuan/{unit} within the range"),
    "price_unstated": ("供给未标价，价格待议", "the offer states no price: to be agreed"),
    "price_above_max": (
        "价格 {price} 元/{unit} 高于上限 {price_max}",
        "price {price} yuan/{unit} is above the maximum {price_max}",
    ),
    "price_below_min": (
        "价格 {price} 元/{unit} 低于下限 {price_min}",
        "price {price} yuan/{unit} is below the minimum {price_min}",
    ),
    "eligibility": (
        "项目资格规则接纳该组织（{kind}）",
        "the programme's rules admit the organisation ({kind})",
    ),
    "eligibility_kind": (
        "项目只接纳 {admitted} 类组织，该组织为 {kind}",
        "the programme admits only {admitted}, the organisation is {kind}",
    ),
    "eligibility_region": (
        "项目只接纳 {regions} 内的组织，该组织在 {region}",
        "the programme admits only organisations in {regions}, this one is in {region}",
    ),
    "eligibility_certifications": (
        "项目要求组织具备 {missing}",
        "the programme requires the organisation to hold {missing}",
    ),
    "previously_refused": ("这一配对此前已被拒绝或过期", "this pair was declined or expired before"),
    # what limited a proposal's quantity
    "need": ("需求已全部满足", "the need is fully covered"),
    "offer": ("供给已全部分配", "the offer has nothing more to give"),
    "fair_share": (
        "公平分配（{rule_name}）：{organisations} 个组织争用 {capacity}，该组织的份额为 {share}",
        "fair split ({rule_name}): {organisations} organisations compete for {capacity}; "
        "this one's share is {share}",
    ),
    "fairness_cap": (
        "公平上限：其余份额留给其他组织",
        "the fairness cap leaves the rest to other organisations",
    ),
    "programme_max": ("项目对每个组织的上限", "the programme's maximum per organisation"),
    "shared": ("其余部分更适合其他需求", "the rest serves other needs better"),
    # fair split rules
    "max_min": ("最大最小公平", "max-min fair share"),
    "proportional": ("按需求比例", "proportional to demand"),
    # a listing's diagnosis
    "fully_proposed": ("需求已有足额的匹配", "the need is fully matched or proposed"),
    "partly_proposed": (
        "已匹配或建议 {proposed}，尚缺 {remaining}",
        "{proposed} matched or proposed, {remaining} still open",
    ),
    "no_candidates": ("没有任何供给通过全部筛选", "no offer passes every filter"),
    "candidates_taken": (
        "有 {count} 个供给通过筛选，但已分配给其他需求",
        "{count} offers pass every filter but are allocated to other needs",
    ),
    "listing_closed": ("该条目已撤回（{status}）", "the listing is closed ({status})"),
    "held_elsewhere": (
        "该供给属于负责 {county} 的协调分区（{owner}），只由它分配，不与本分区的需求匹配；尚余 {remaining}",
        "this offer belongs to the coordinator partition of {county} ({owner}), which alone allocates "
        "it: it is not matched with this partition's needs; {remaining} left",
    ),
    "listing_window_expired": (
        "时间窗已于 {window_end} 结束，不再匹配",
        "its window ended on {window_end}: it is no longer matched",
    ),
    "offer_fully_allocated": ("供给已全部分配", "the offer is fully allocated"),
    "offer_partly_allocated": (
        "已分配 {proposed}，尚余 {remaining}",
        "{proposed} allocated, {remaining} left",
    ),
    "no_needs": ("没有任何需求与之通过全部筛选", "no need passes every filter with it"),
    # -- market signals: why a county's category family is short, in glut or balanced ---------
    "project_active": ("成员已加入，项目进行中", "the members have joined: the project is under way"),
    "project_waiting": (
        "等待成员答复：{pending}",
        "waiting for members to answer: {pending}",
    ),
    "project_one_kind": (
        "已加入的成员只有一类（{kinds}），跨界项目至少需两类",
        "the members who joined are of one kind only ({kinds}); a cross-sector project needs two",
    ),
    "project_completed": ("项目已完成并结项", "the project is completed and closed"),
    "project_abandoned": ("项目已终止", "the project was abandoned"),
    "line_fund_unknown": ("未找到专项资金 {fund_id}", "no special fund {fund_id} is known"),
    "line_share_unknown": ("专项资金中没有份额 {share}", "the fund has no share {share}"),
    "line_fund_ok": ("可由专项资金份额 {share} 资助", "may be funded from the fund's share {share}"),
    "market_shortage": (
        "需求明显多于供给：供需差 {balance}，高于历史水平 {baseline} 达 {shift}",
        "demand well above supply: balance {balance}, {shift} above its usual {baseline}",
    ),
    "market_glut": (
        "供给明显多于需求：供需差 {balance}，低于历史水平 {baseline} 达 {shift}",
        "supply well above demand: balance {balance}, {shift} below its usual {baseline}",
    ),
    "market_balanced": (
        "供需大致平衡：供需差 {balance}，历史水平 {baseline}",
        "supply and demand roughly even: balance {balance}, usually {baseline}",
    ),
    "market_too_few_listings": (
        "本月仅有 {listings} 条需求和供给，不足以判断",
        "only {listings} needs and offers this month: too few to say",
    ),
    # -- agenda items: why an item is on a meeting's agenda (``reason_code``) -------------------
    "agenda_dispute": ("社区提出的纠纷", "a dispute raised by a community"),
    "agenda_proposal": ("组织提议的议题", "proposed by an organisation"),
    "agenda_unmatched_need": ("需求已 {days} 天未获匹配", "unmatched for {days} days"),
    "agenda_stalled_match": ("已有 {count} 个匹配建议被拒绝或过期", "{count} proposals declined or expired"),
    "agenda_overdue_action": ("自 {due_date} 起逾期", "overdue since {due_date}"),
    "agenda_overdue_milestone": (
        "项目里程碑自 {due_date} 起逾期",
        "project milestone overdue since {due_date}",
    ),
    "agenda_new_programme": ("新的政府项目", "a new government programme"),
    "agenda_added_by_coordinator": ("由协调员添加", "added by a coordinator"),
    # -- agenda items: the priority rule that ranked it (``priority_rule_code``) -----------------
    "priority_dispute": ("纠纷：{base}", "{base} for a dispute"),
    "priority_proposal": ("组织提议：{base}", "{base} for a proposal"),
    "priority_new_programme": ("新项目：{base}", "{base} for a new programme"),
    "priority_overdue_action": ("{base} + {bonus}（按逾期天数）", "{base} + {bonus} for days overdue"),
    "priority_overdue_milestone": ("{base} + {bonus}（按逾期天数）", "{base} + {bonus} for days overdue"),
    "priority_stalled_match": ("{base} + {bonus}（按被拒次数）", "{base} + {bonus} for repeated refusals"),
    "priority_unmatched_need": ("{base} + {bonus}（按等待周数）", "{base} + {bonus} for weeks waiting"),
    "priority_placed_by_coordinator": ("由协调员排定", "placed by a coordinator"),
}

_SEPARATOR = {"zh": "、", "en": ", "}


def language(value: str | None) -> Language:
    """``zh`` or ``en`` from a query parameter or an Accept-Language header (default zh)."""
    if value and value.strip().lower().startswith("en"):
        return "en"
    return "zh"


def _shown(value: Any, lang: Language, name: str = "") -> str:
    """A parameter in ``lang``: certifications, categories (``*category``) and units
    (``*unit``) by their names, lists joined."""
    if isinstance(value, list | tuple):
        return _SEPARATOR[lang].join(_shown(v, lang, name) for v in value)
    if value is None:
        return "—"
    if isinstance(value, str) and value in CERTIFICATIONS:
        return CERTIFICATIONS[value][0 if lang == "zh" else 1]
    if isinstance(value, str) and name.endswith("category"):
        return category_text(value, lang)
    if isinstance(value, str) and name.endswith("unit"):
        return unit_text(value, lang)
    return str(value)


def render(code: str, params: Mapping[str, Any] | None, lang: Language) -> str:
    """The reason in ``lang``; an unknown code is shown as the code itself."""
    templates = TEXTS.get(code)
    if templates is None:
        return code
    values = {name: _shown(value, lang, name) for name, value in (params or {}).items()}
    rule = (params or {}).get("rule")
    if isinstance(rule, str) and rule in TEXTS:
        values["rule_name"] = TEXTS[rule][0 if lang == "zh" else 1]
    try:
        return templates[0 if lang == "zh" else 1].format(**values)
    except (KeyError, IndexError, ValueError):
        return templates[0 if lang == "zh" else 1]


def render_reason(reason: Mapping[str, Any], lang: Language) -> str:
    """Render ``{"code": ..., "params": {...}}``."""
    return render(str(reason.get("code", "")), reason.get("params"), lang)


def agenda_reason(item: Mapping[str, Any], lang: Language) -> str:
    """Why an agenda item is on the agenda: the words a coordinator typed (``reason``) if any,
    else ``reason_code`` with ``reason_params`` rendered. Items stored before the codes have
    only their English ``reason``, which is shown as it is."""
    if item.get("reason"):
        return str(item["reason"])
    code = item.get("reason_code")
    return render(str(code), item.get("reason_params"), lang) if code else ""


def agenda_rule(item: Mapping[str, Any], lang: Language) -> str:
    """The priority rule that ranked an agenda item (``priority_rule_code`` with
    ``priority_params``); items stored before the codes show their English ``priority_rule``."""
    code = item.get("priority_rule_code")
    if code:
        return render(str(code), item.get("priority_params"), lang)
    return str(item.get("priority_rule") or "")


TERMS: dict[str, tuple[str, str]] = {
    "proximity": ("距离", "proximity"),
    "urgency": ("紧迫度", "urgency"),
    "quantity_fit": ("数量匹配", "quantity fit"),
    "quality": ("品质偏好", "preferred quality"),
    "record": ("履约记录", "fulfilment record"),
}


def render_explanation(explanation: Mapping[str, Any], lang: Language) -> dict[str, Any]:
    """The explanation in words: ``summary``, one line per filter, and the limit."""
    if "summary_en" in explanation and "quantity" not in explanation:  # stored before codes
        return {
            "summary": str(explanation.get(f"summary_{lang}", "")),
            "filters": [str(f.get("detail", "")) for f in explanation.get("filters", [])],
            "limit": str(explanation.get("limited_by_text", "")),
        }
    filters = [render_reason(f, lang) for f in explanation.get("filters", [])]
    limit = render(str(explanation.get("limited_by", "")), explanation.get("limit_params"), lang)
    strongest = TERMS.get(str(explanation.get("strongest", "")), ("", ""))
    score = float(explanation.get("score", 0))
    quantity, unit = explanation.get("quantity", ""), unit_text(str(explanation.get("unit", "")), lang)
    need, offer = explanation.get("need_title", ""), explanation.get("offer_title", "")
    if lang == "zh":
        summary = (
            f"建议由“{offer}”向“{need}”提供 {quantity} {unit}。通过全部 {len(filters)} 项筛选；"
            f"综合得分 {score:.2f}（满分 1），主要来自{strongest[0]}。数量止于此，原因：{limit}。"
        )
    else:
        summary = (
            f"Proposes {quantity} {unit} of “{offer}” for “{need}”. It passed all {len(filters)} "
            f"filters; score {score:.2f} of 1, mostly from {strongest[1]}. "
            f"The quantity stops there because {limit}."
        )
    return {"summary": summary, "filters": filters, "limit": limit}
