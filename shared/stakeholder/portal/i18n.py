"""The portal's words in Chinese and English: its pages, the fields of its forms (with help that
explains each field and its unit) and the problems a form can have."""

from collections.abc import Mapping
from typing import Any

from shared.reasons import Language

__all__ = ["error_text", "field_help", "field_label", "refusal_text", "t"]

TEXT: dict[str, tuple[str, str]] = {
    "portal": ("四方协同 · 机构门户", "Sifang · organisation portal"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "language": ("English", "中文"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "wrong_password": ("用户名或密码不对。", "Wrong username or password."),
    "locked": ("尝试次数过多，请于 {until} 后再试。", "Too many attempts: try again after {until}."),
    "form_expired": ("表单已过期，请刷新后重试。", "The form expired: reload the page and try again."),
    "home": ("首页", "Home"),
    "needs": ("需求", "Needs"),
    "offers": ("供给", "Offers"),
    "matches": ("对接建议", "Proposals"),
    "meetings": ("会议", "Meetings"),
    "actions": ("待办事项", "Actions"),
    "market": ("市场信息", "Market"),
    "people": ("账号", "People"),
    "disputes": ("纠纷", "Disputes"),
    "post": ("发布", "Post"),
    "save": ("保存", "Save"),
    "edit": ("修改", "Edit"),
    "withdraw": ("撤回", "Withdraw"),
    "required": ("必填", "required"),
    "optional": ("选填", "optional"),
    "none_yet": ("暂无。", "None yet."),
    "fix_errors": ("请改正以下问题：", "Please correct these:"),
    "saved": ("已保存。", "Saved."),
    "posted": ("已发布，协调平台将为它寻找对接。", "Posted: the coordinator will look for matches."),
    "sent": ("已提交给协调平台。", "Sent to the coordinator."),
    "to_answer": ("等您答复的对接建议", "Proposals awaiting your answer"),
    "invitations": ("会议邀请", "Invitations"),
    "minutes_to_approve": ("待确认的会议纪要", "Minutes to approve"),
    "your_actions": ("您负责的事项", "Your action items"),
    "open_needs": ("在办需求", "Open needs"),
    "open_offers": ("在办供给", "Open offers"),
    "new_need": ("发布需求", "Post a need"),
    "new_offer": ("发布供给", "Post an offer"),
    "accept": ("接受", "Accept"),
    "decline": ("婉拒", "Decline"),
    "decline_reason": ("婉拒理由", "Why you decline"),
    "why": ("为什么推荐", "Why this proposal"),
    "your_answer": ("您的答复", "Your answer"),
    "accepted": ("已接受", "accepted"),
    "declined": ("已婉拒", "declined"),
    "answer_outdated": ("建议已修改，请重新答复。", "The proposal changed: answer again."),
    "report_delivery": ("报告交付", "Report a delivery"),
    "delivered": ("已交付", "Delivered"),
    "reply": ("答复", "Reply"),
    "attend": ("参加", "Attend"),
    "decline_meeting": ("不参加", "Decline"),
    "delegate": ("委派代表", "Send a delegate"),
    "delegate_name": ("代表姓名", "Delegate's name"),
    "agenda": ("议程", "Agenda"),
    "propose_item": ("提议议题", "Propose an agenda item"),
    "minutes": ("会议纪要", "Minutes"),
    "record_hash": ("纪要哈希（SHA-256）", "Record hash (SHA-256)"),
    "approve": ("确认纪要", "Approve the minutes"),
    "approved_by": ("已确认", "Approved by"),
    "decisions": ("决议", "Decisions"),
    "report_progress": ("报告进展", "Report progress"),
    "evidence": ("证明材料（照片或 PDF，最大 5 MB）", "Evidence (photo or PDF, at most 5 MB)"),
    "evidence_link": ("证明材料", "Evidence"),
    "due": ("截止", "Due"),
    "status": ("状态", "Status"),
    "quantity": ("数量", "Quantity"),
    "when": ("时间", "When"),
    "where": ("地点", "Where"),
    "raise_dispute": ("申请调解纠纷", "Raise a dispute"),
    "add_person": ("添加账号", "Add a person"),
    "role": ("角色", "Role"),
    "admin": ("管理员", "administrator"),
    "member": ("成员", "member"),
    "active": ("启用", "active"),
    "inactive": ("已停用", "deactivated"),
    "deactivate": ("停用", "Deactivate"),
    "display_name": ("姓名", "Name"),
    "only_admins": ("只有本机构的管理员可以添加账号。", "Only the organisation's administrators add people."),
    "shortage": ("短缺", "shortage"),
    "glut": ("过剩", "glut"),
    "balanced": ("已平衡", "balanced"),
    "this_county": ("本县各品类的供需信号", "Supply and demand signals in your county"),
    "not_found": ("找不到该项，或它不属于本机构。", "Not found, or not this organisation's."),
    "records": ("本机构的登记", "Your records"),
    "in_progress": ("进行中", "in progress"),
    "done": ("已完成", "done"),
    "blocked": ("受阻", "blocked"),
    "overdue": ("已逾期", "overdue"),
    "open": ("在办", "open"),
    "withdrawn": ("已撤回", "withdrawn"),
    "proposed": ("待答复", "proposed"),
    "confirmed": ("已确认", "confirmed"),
    "fulfilled": ("已完成", "fulfilled"),
    "expired": ("已过期", "expired"),
    "group_requirements": ("对供给的要求（选填）", "What an offer must or should meet (optional)"),
    "group_qualities": ("品质说明（选填）", "Its qualities (optional)"),
    "group_eligibility": ("申请条件（选填）", "Who may apply (optional)"),
    "approved": ("通过", "approved"),
    "rejected": ("否决", "rejected"),
    "deferred": ("暂缓", "deferred"),
    "referred": ("移交", "referred"),
    "basic": ("基础", "basic"),
    "advanced": ("进阶", "advanced"),
    "incubation": ("孵化", "incubation"),
    "subsidy": ("补贴", "subsidy"),
    "fund": ("资金", "fund"),
    "training": ("培训", "training"),
}


def t(key: str, lang: Language, **values: Any) -> str:
    zh, en = TEXT.get(key, (key, key))
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text


# Each field of the forms: its label and the help shown under it (what it is, in which unit).
FIELDS: dict[str, tuple[str, str, str, str]] = {
    "category": ("类别", "Category", "从列表中选择最贴切的一项。", "Choose the closest one."),
    "product_category": ("品类", "Product", "农产品的品类。", "The kind of produce."),
    "topic": ("培训主题", "Topic", "培训类别。", "A training category."),
    "title": (
        "标题",
        "Title",
        "一句话说明，如“村民直播带货培训”。",
        "One line, e.g. “Live-stream selling course”.",
    ),
    "name": ("名称", "Name", "", ""),
    "description": (
        "说明",
        "Description",
        "补充情况，最多 5000 字。",
        "Anything else, at most 5,000 characters.",
    ),
    "quantity": (
        "数量",
        "Quantity",
        "大于 0 的数，单位见下一项。",
        "A number above 0, in the unit below.",
    ),
    "unit": (
        "单位",
        "Unit",
        "如 人、斤、公斤、吨、件、元、万元、小时、天。",
        "e.g. 人 (people), 斤, kg, t, piece, yuan, 万元, hour, day.",
    ),
    "region": (
        "地区代码",
        "Region code",
        "12 位行政区划代码（村）或 6 位（县）；不填即本机构所在地。",
        "A 12-digit village or 6-digit county code; empty means your organisation's.",
    ),
    "service_area": (
        "服务范围",
        "Service area",
        "可服务的地区代码，用逗号分隔；不填即所在地。",
        "Region codes it serves, separated by commas; empty means its own region.",
    ),
    "window_start": ("开始日期", "From", "年-月-日；需要或可提供的起始日。", "YYYY-MM-DD: when it starts."),
    "window_end": (
        "结束日期",
        "Until",
        "年-月-日；过了这天不再对接。",
        "YYYY-MM-DD: no matching after this day.",
    ),
    "variety": ("品种", "Variety", "如“徐香”“翠香”。", "e.g. Xuxiang."),
    "grade": ("等级", "Grade", "如“一级”“特级”。", "e.g. first grade."),
    "certifications": (
        "认证",
        "Certifications",
        "用逗号分隔，如 green-food, organic, geographical-indication。",
        "Separated by commas, e.g. green-food, organic, geographical-indication.",
    ),
    "standards": (
        "执行标准",
        "Standards",
        "如 GB/T 40743，用逗号分隔。",
        "e.g. GB/T 40743, separated by commas.",
    ),
    "packaging": ("包装", "Packaging", "如 gift-box、bulk。", "e.g. gift-box, bulk."),
    "price_per_unit": (
        "单价（元/单位）",
        "Price (yuan per unit)",
        "每个单位的价格，单位为元。",
        "Yuan per unit.",
    ),
    "max_price_per_unit": ("最高单价（元/单位）", "Highest price (yuan per unit)", "", ""),
    "required_certifications": (
        "必须具备的认证",
        "Required certifications",
        "不具备其中任一项的供给不会被推荐。用逗号分隔。",
        "An offer lacking any of these is never proposed. Separated by commas.",
    ),
    "preferred_certifications": ("优先的认证", "Preferred certifications", "有则加分。", "Scores higher."),
    "required_grade": (
        "必须的等级",
        "Required grade",
        "等级不同的供给不会被推荐。",
        "Other grades are never proposed.",
    ),
    "preferred_grade": ("优先的等级", "Preferred grade", "", ""),
    "required_standards": ("必须执行的标准", "Required standards", "", ""),
    "preferred_standards": ("优先的标准", "Preferred standards", "", ""),
    "required_packaging": ("必须的包装", "Required packaging", "", ""),
    "preferred_packaging": ("优先的包装", "Preferred packaging", "", ""),
    "price_min": ("最低单价（元）", "Lowest price (yuan)", "每单位的元数。", "Yuan per unit."),
    "price_max": ("最高单价（元）", "Highest price (yuan)", "每单位的元数。", "Yuan per unit."),
    "tier": ("层级", "Tier", "", ""),
    "seats": ("名额（人）", "Seats (people)", "可培训的人数。", "How many people it can take."),
    "start_date": ("开课日期", "First day", "年-月-日。", "YYYY-MM-DD."),
    "end_date": ("结课日期", "Last day", "年-月-日。", "YYYY-MM-DD."),
    "venue": ("上课地点", "Venue", "", ""),
    "programme_kind": ("项目类型", "Kind", "", ""),
    "budget": (
        "预算",
        "Budget",
        "数额，单位见“单位”（默认元，培训为名额）。",
        "In the unit below (yuan, or seats).",
    ),
    "organisation_kinds": (
        "可申请的机构类型",
        "Who may apply",
        "government, enterprise, ngo, community，用逗号分隔；不填即都可以。",
        "Kinds, separated by commas; empty means any.",
    ),
    "regions": (
        "可申请的地区",
        "Regions",
        "地区代码，用逗号分隔；不填即不限。",
        "Region codes; empty means any.",
    ),
    "max_amount": ("单个机构上限", "Most per applicant", "", ""),
    "other_parties": (
        "另一方（机构编号）",
        "Other parties (organisation ids)",
        "涉及的其他机构的编号，用逗号分隔。",
        "The other organisations' ids, separated by commas.",
    ),
    "reason": ("理由", "Reason", "", ""),
    "note": ("说明", "Note", "", ""),
    "status": ("状态", "Status", "", ""),
    "reply": ("答复", "Reply", "", ""),
    "delegate": ("代表姓名", "Delegate", "选“委派代表”时填写。", "When you send a delegate."),
    "series_id": (
        "会议系列",
        "Meeting series",
        "不填即本地区的联席会议。",
        "Empty means your region's joint meetings.",
    ),
    "links": ("相关链接", "Links", "", ""),
    "evidence_url": ("证明材料链接", "Evidence link", "", ""),
    "record_hash": ("纪要哈希", "Record hash", "", ""),
    "username": ("用户名", "Username", "字母、数字和下划线。", "Letters, digits and underscores."),
    "display_name": ("姓名", "Name", "", ""),
    "password": ("密码", "Password", "至少 10 个字符。", "At least 10 characters."),
    "role": ("角色", "Role", "管理员可以添加和停用账号。", "Administrators add and deactivate people."),
    "evidence": (
        "证明材料",
        "Evidence",
        "照片（JPEG、PNG、WebP）或 PDF，最大 5 MB。",
        "A photo or a PDF, at most 5 MB.",
    ),
}


def field_label(key: str, lang: Language) -> str:
    found = FIELDS.get(key)
    if found is None:
        return key.replace("_", " ")
    return found[0] if lang == "zh" else found[1]


def field_help(key: str, lang: Language) -> str:
    found = FIELDS.get(key)
    return "" if found is None else (found[2] if lang == "zh" else found[3])


ERRORS: dict[str, tuple[str, str]] = {
    "missing": ("必须填写", "is required"),
    "string_too_short": ("不能为空", "cannot be empty"),
    "string_too_long": ("最多 {max_length} 个字", "at most {max_length} characters"),
    "greater_than": ("必须大于 {gt}", "must be more than {gt}"),
    "greater_than_equal": ("不能小于 {ge}", "must be at least {ge}"),
    "less_than_equal": ("不能大于 {le}", "must be at most {le}"),
    "decimal_parsing": ("必须是数字", "must be a number"),
    "decimal_type": ("必须是数字", "must be a number"),
    "float_parsing": ("必须是数字", "must be a number"),
    "int_parsing": ("必须是整数", "must be a whole number"),
    "decimal_max_digits": ("数字位数太多", "has too many digits"),
    "decimal_max_places": ("小数位太多", "has too many decimal places"),
    "date_from_datetime_parsing": ("必须是日期（年-月-日）", "must be a date (YYYY-MM-DD)"),
    "date_parsing": ("必须是日期（年-月-日）", "must be a date (YYYY-MM-DD)"),
    "literal_error": ("请从选项中选择", "choose one of the options"),
    "enum": ("请从选项中选择", "choose one of the options"),
    "too_long": ("最多 {max_length} 项", "at most {max_length} items"),
    "extra_forbidden": ("不接受这一项", "is not accepted here"),
    "control_character": ("含有不能保存的控制字符", "contains a control character that cannot be stored"),
}

# The checks our own validators make (pydantic "value_error"), known by their English message.
VALUE_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("unknown unit", "不认识这个单位（可用：人、斤、公斤、吨、件、元、万元、小时、天）", "unknown unit"),
    ("is not a unit", "不是计量单位", "is not a unit of anything"),
    ("region", "地区代码不对（应为 6、9 或 12 位数字的行政区划代码）", "is not a region code"),
    ("category", "类别不对", "is not a known category"),
    ("lies under", "类别不在允许的范围内", "is not in the allowed branch"),
    ("before window_start", "结束日期早于开始日期", "is before the start"),
    ("before start_date", "结课日期早于开课日期", "is before the first day"),
)


# A handler's refusal (the API's English message), known by a part of it, in Chinese.
REFUSALS: tuple[tuple[str, str], ...] = (
    ("can no longer change", "已撤回，不能再修改"),
    ("is already withdrawn", "已经撤回"),
    ("cannot be null", "不能为空"),
    ("stays in its county", "不能移到其他县：请撤回后在那个县重新发布"),
    ("organisation cannot post a", "本类机构不能在这一类别发布"),
    ("only proposals can be answered", "该建议已不在待答复状态"),
    ("answered this proposal already", "本机构已答复过该建议"),
    ("deliveries need a confirmed match", "只有双方都已接受的对接才能报告交付"),
    ("remain to deliver", "超出了尚未交付的数量"),
    ("not invited", "本机构未受邀参加该会议"),
    ("name the delegate", "请填写代表姓名"),
    ("no minutes to approve", "会议尚无纪要"),
    ("only organisations present", "只有出席会议的机构确认纪要"),
    ("not the hash of these minutes", "纪要哈希不符：纪要已更新，请刷新后再确认"),
    ("this action is done", "该事项已完成"),
    ("concerning this organisation", "找不到该项，或它不属于本机构"),
    ("of this organisation", "找不到该项，或它不属于本机构"),
    ("there is already an account", "该用户名已被使用"),
    ("a username is", "用户名为 3–64 个字母、数字、点、横线或下划线"),
    ("the role is", "角色只能是管理员或成员"),
    ("give the person's name", "请填写姓名（最多 100 字）"),
    ("a password has at least", "密码至少 10 个字符"),
    ("only the organisation's administrators", "只有本机构的管理员可以停用账号"),
    ("does not deactivate their own", "管理员不能停用自己的账号"),
    ("the file is empty", "文件是空的"),
    ("a file is at most", "文件太大（最大 5 MB）"),
    ("evidence is a jpeg", "只接受 JPEG、PNG、WebP 照片或 PDF 文件"),
    ("control character", "含有不能保存的控制字符"),
    ("unpaired surrogate", "含有不能保存的字符"),
    ("form expired", "表单已过期，请刷新后重试"),
)


def refusal_text(message: str, lang: Language) -> str:
    """A handler's refusal in ``lang``: the API's message in English; in Chinese, its known
    meaning, else the message under 无法办理."""
    if lang == "en":
        return message
    lowered = message.lower()
    for needle, zh in REFUSALS:
        if needle in lowered:
            return zh
    return "无法办理：" + message


def error_text(kind: str, lang: Language, ctx: Mapping[str, Any] | None = None, message: str = "") -> str:
    """A form field's problem in ``lang`` (pydantic's error ``kind`` with its ``ctx``)."""
    if kind == "value_error" or kind not in ERRORS:
        lowered = message.lower()
        for needle, zh, en in VALUE_ERRORS:
            if needle in lowered:
                return zh if lang == "zh" else en
        return ("格式不对：" + message.removeprefix("Value error, ")) if lang == "zh" else message
    zh, en = ERRORS[kind]
    text = zh if lang == "zh" else en
    try:
        return text.format(**(ctx or {}))
    except (KeyError, IndexError):
        return text
