"""The live feed in words: who did what, linked to the item, in the page's language.

A line is built from the event's structured data only: organisation names from the registry,
titles from the event or the book, categories and units from the dashboard's tables. Titles and
names are what organisations wrote: a line is plain text, escaped by the template and put in by
the script with ``textContent``. Events nobody needs to read (the clock's ticks, notices between
partitions) have no line."""

import asyncio
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.book.models import BookNeed, BookOffer
from services.coordinator.dashboard.i18n import Lang, amount, category_label, t
from services.coordinator.funds.models import LedgerFund
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.matches.models import Match
from services.coordinator.mediation.models import Dispute
from services.coordinator.meetings.localtime import local_time
from services.coordinator.meetings.models import ActionItem
from services.coordinator.projects.models import Project
from services.coordinator.registry.queries import organisation_names

__all__ = ["SENTENCES", "FeedLine", "Happening", "feed_lines", "latest_lines", "narrated"]

log = logging.getLogger(__name__)

SILENT = {"clock", "instruction", "offer.shared"}  # entities or entity.verbs with no line

# (entity.verb) → (zh, en); {org} the acting organisation, the rest from the event's data.
SENTENCES: dict[str, tuple[str, str]] = {
    "need.published": ("{org} 发布了需求：{title}，{amount}", "{org} posted a need: {title}, {amount}"),
    "need.updated": ("{org} 修改了需求：{title}，{amount}", "{org} updated a need: {title}, {amount}"),
    "need.withdrawn": ("{org} 撤回了需求：{title}", "{org} withdrew a need: {title}"),
    "offer.published": ("{org} 发布了供给：{title}，{amount}", "{org} posted an offer: {title}, {amount}"),
    "offer.updated": ("{org} 修改了供给：{title}，{amount}", "{org} updated an offer: {title}, {amount}"),
    "offer.withdrawn": ("{org} 撤回了供给：{title}", "{org} withdrew an offer: {title}"),
    "programme.opened": ("{org} 开设了扶持项目：{title}", "{org} opened a programme: {title}"),
    "procurement.requested": (
        "{org} 发布了采购需求：{category}，{amount}",
        "{org} asked to buy {category}: {amount}",
    ),
    "course.offered": (
        "{org} 开设了培训课程：{title}，{amount}",
        "{org} offered a course: {title}, {amount}",
    ),
    "lot.offered": ("{org} 提供了货源：{title}，{amount}", "{org} offered a lot: {title}, {amount}"),
    "match.proposed": (
        "平台建议由{offer_org}的“{offer}”为{need_org}的需求“{need}”提供 {amount}",
        "Proposed: {offer_org}'s “{offer}” to provide {amount} for {need_org}'s need “{need}”",
    ),
    "match.confirmed": (
        "{need_org}与{offer_org}确认了匹配：{need}，{amount}",
        "{need_org} and {offer_org} confirmed a match: {need}, {amount}",
    ),
    "match.fulfilled": (
        "{offer_org}已向{need_org}交付完毕：{need}，{amount}",
        "{offer_org} delivered in full to {need_org}: {need}, {amount}",
    ),
    "match.declined": (
        "匹配建议被拒绝：{need}（{need_org} ← {offer_org}）",
        "A proposal was declined: {need} ({need_org} ← {offer_org})",
    ),
    "match.expired": (
        "匹配建议已过期：{need}（{need_org} ← {offer_org}）",
        "A proposal expired: {need} ({need_org} ← {offer_org})",
    ),
    "match.withdrawn": (
        "协调员撤回了匹配建议：{need}（{need_org} ← {offer_org}）",
        "A coordinator withdrew a proposal: {need} ({need_org} ← {offer_org})",
    ),
    "match.nudged": (
        "协调员提醒双方答复匹配建议：{need}（{need_org} ← {offer_org}）",
        "A coordinator reminded both sides of a proposal: {need} ({need_org} ← {offer_org})",
    ),
    "match.amended": (
        "匹配数量已调整：{need}，{amount}（{need_org} ← {offer_org}）",
        "A match was amended: {need}, {amount} ({need_org} ← {offer_org})",
    ),
    "match.delivery_recorded": (
        "已记录交付：{need}（{need_org} ← {offer_org}）",
        "A delivery was recorded: {need} ({need_org} ← {offer_org})",
    ),
    "match.accepted": ("{org} 接受了匹配建议：{need}", "{org} accepted a proposal: {need}"),
    "match.rejected": ("{org} 拒绝了匹配建议：{need}", "{org} rejected a proposal: {need}"),
    "match.delivered": ("{org} 报告了交付：{need}，{amount}", "{org} reported a delivery: {need}, {amount}"),
    "agenda_item.proposed": ("{org} 提出了议题：{title}", "{org} proposed an agenda item: {title}"),
    "dispute.raised": ("{org} 提出了纠纷：{title}", "{org} raised a dispute: {title}"),
    "dispute.statement_given": ("{org} 就纠纷作了陈述：{title}", "{org} stated its case: {title}"),
    "dispute.settlement_proposed": (
        "{org} 提出了调解方案：{title}",
        "{org} proposed a settlement: {title}",
    ),
    "dispute.settlement_answered": (
        "{org} 答复了调解方案：{title}",
        "{org} answered a settlement: {title}",
    ),
    "dispute.mediation_ended": ("{org} 结束了调解：{title}", "{org} ended a mediation: {title}"),
    "dispute": ("纠纷“{title}”：{status}", "Dispute “{title}”: {status}"),
    "mediation.recorded": ("调解结果已记入哈希链", "A mediation's outcome entered the chain"),
    "invitation.answered": ("{org} 答复了会议邀请", "{org} answered a meeting invitation"),
    "minutes.approved": ("{org} 确认了会议纪要", "{org} approved the minutes"),
    "meeting.scheduled": ("已安排会议：{title}，{when}", "Meeting scheduled: {title}, {when}"),
    "agenda.published": ("会议议程已发布", "A meeting's agenda was published"),
    "record.closed": ("会议已闭会，纪要待各方确认", "A meeting closed; its minutes await approval"),
    "record.locked": ("会议纪要已经各方确认并锁定", "Minutes approved by every party and locked"),
    "record.amended": ("会议纪要有更正", "Minutes were amended"),
    "action.progressed": ("{org} 报告了行动事项进展：{title}", "{org} reported progress: {title}"),
    "action": ("行动事项“{title}”：{status}", "Action “{title}”: {status}"),
    "project.proposed": ("{org} 发起了跨界项目：{title}", "{org} proposed a project: {title}"),
    "project.answered": ("{org} 答复了项目邀请：{title}", "{org} answered a project invitation: {title}"),
    "project.progressed": ("{org} 报告了项目进展：{title}", "{org} reported project progress: {title}"),
    "project.closed": ("{org} 提交了结项报告：{title}", "{org} closed a project: {title}"),
    "project": ("跨界项目“{title}”：{status}", "Project “{title}”: {status}"),
    "organisation.registered": ("{org}（{kind}）加入了平台", "{org} ({kind}) joined the platform"),
    "market.signal": ("市场信号：{category} {status}", "Market signal: {category}, {status}"),
    "fund": ("{org} 更新了专项资金账目：{title}", "{org} updated a fund's ledger: {title}"),
    "": ("{org} 更新了一条记录", "{org} updated a record"),
}


@dataclass(frozen=True)
class Happening:
    """What a line is made of: one logged event, or one arriving on the stream."""

    position: int
    type: str  # sifang.<entity>.<verb>.v<N>
    organisation_id: str
    entity_id: str
    time: datetime | str
    data: Mapping[str, Any]

    @classmethod
    def of_entry(cls, entry: EventLogEntry) -> "Happening":
        return cls(entry.position, entry.type, entry.organisation_id, entry.entity_id, entry.time, entry.data)

    @classmethod
    def of_payload(cls, position: int, event: Mapping[str, Any]) -> "Happening":
        """From a CloudEvent as the stream carries it (its source ends in the publisher's id)."""
        data = event.get("data")
        data = data if isinstance(data, dict) else {}
        source = str(event.get("source", ""))
        organisation = str(data.get("organisation_id") or source.rsplit("/", 1)[-1])
        return cls(position, str(event.get("type", "")), organisation, str(event.get("subject", "")),
                   str(event.get("time", "")), data)  # fmt: skip

    @property
    def entity(self) -> str:
        return self.type.split(".")[1] if self.type.count(".") >= 3 else ""

    @property
    def verb(self) -> str:
        return self.type.split(".")[2] if self.type.count(".") >= 3 else ""


@dataclass(frozen=True)
class FeedLine:
    position: int
    time: str  # in the region's zone
    text: str
    link: str | None
    entity: str  # what it is about: need, offer, match, meeting, ...

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "time": self.time,
            "text": self.text,
            "link": self.link,
            "entity": self.entity,
        }


def _path(kind: str, id_: object) -> str:
    return f"/dashboard/{kind}/{quote(str(id_), safe='')}"


@dataclass
class _Lookups:
    """Names and titles the events do not carry, read once for a batch of them."""

    names: dict[str, str]
    titles: dict[str, str]  # need and offer ids → title
    matches: dict[str, tuple[str, str, str]]  # match id → need id, need's and offer's organisation
    disputes: dict[str, str]
    actions: dict[str, str]
    projects: dict[str, str]
    funds: dict[str, str]

    @classmethod
    def read(cls, session: Session, happenings: list[Happening]) -> "_Lookups":
        def ids(*keys: str) -> set[str]:
            return {str(h.data[k]) for h in happenings for k in keys if h.data.get(k)}

        match_ids = ids("match_id")
        matches = {
            m.id: (m.need_id, m.need_organisation_id, m.offer_organisation_id)
            for m in session.scalars(select(Match).where(Match.id.in_(match_ids)))
        }
        listing_ids = ids("need_id", "offer_id") | {need for need, _, _ in matches.values()}
        titles: dict[str, str] = {}
        for model in (BookNeed, BookOffer):
            query = select(model.id, model.title).where(model.id.in_(listing_ids))
            titles |= {id_: title for id_, title in session.execute(query)}
        disputes = select(Dispute.id, Dispute.title).where(Dispute.id.in_(ids("dispute_id")))
        actions = select(ActionItem.id, ActionItem.title).where(ActionItem.id.in_(ids("action_id")))
        projects = select(Project.id, Project.title).where(Project.id.in_(ids("project_id")))
        funds = select(LedgerFund.id, LedgerFund.name).where(LedgerFund.id.in_(ids("fund_id")))
        return cls(
            organisation_names(session),
            titles,
            matches,
            {id_: title for id_, title in session.execute(disputes)},
            {id_: title for id_, title in session.execute(actions)},
            {id_: title for id_, title in session.execute(projects)},
            {id_: name for id_, name in session.execute(funds)},
        )


def _words(h: Happening, lang: Lang, known: _Lookups) -> tuple[str, str | None] | None:
    """The sentence's template and its values, and the link; None for an event with no line."""
    entity, verb, data = h.entity, h.verb, h.data
    if entity in SILENT or f"{entity}.{verb}" in SILENT or not entity:
        return None
    names = known.names
    org = names.get(h.organisation_id, "") or t("coordinators", lang)
    values: dict[str, Any] = {"org": org, "title": str(data.get("title") or data.get("name") or "")}
    if "quantity" in data and "unit" in data:
        values["amount"] = amount(data["quantity"], str(data["unit"]), lang)
    if "category" in data or "product_category" in data:
        values["category"] = category_label(str(data.get("category") or data.get("product_category")), lang)
    status = str(data.get("status") or data.get("state") or "")
    values["status"] = t(status, lang) if status else ""
    link: str | None = None
    if entity in ("need", "offer", "procurement", "programme", "course", "lot"):
        side = "need" if entity in ("need", "procurement") else "offer"
        listing = data.get(f"{side}_id") or h.entity_id
        values["title"] = values["title"] or known.titles.get(str(listing), "")
        link = _path(f"{side}s", listing)
        if entity == "course":
            values["amount"] = amount(data.get("seats", ""), "seat", lang)
        if entity == "lot":
            values["title"] = f"{values.get('category', '')} {data.get('variety', '')}".strip()
    elif entity == "match":
        need_id, need_org, offer_org = known.matches.get(str(data.get("match_id")), ("", "", ""))
        need_id = str(data.get("need_id") or need_id)
        explanation = data.get("explanation") or {}
        values["need"] = known.titles.get(need_id) or str(explanation.get("need_title") or "")
        offer_id = str(data.get("offer_id") or "")
        values["offer"] = known.titles.get(offer_id) or str(explanation.get("offer_title") or "")
        values["need_org"] = names.get(str(data.get("need_organisation_id") or need_org), "")
        values["offer_org"] = names.get(str(data.get("offer_organisation_id") or offer_org), "")
        values.setdefault("amount", "")
        link = _path("needs", need_id) if need_id else "/dashboard/matches"
    elif entity == "dispute":
        dispute = str(data.get("dispute_id") or h.entity_id)
        values["title"] = values["title"] or known.disputes.get(dispute, "")
        link = _path("disputes", dispute)
    elif entity == "project":
        project = str(data.get("project_id") or h.entity_id)
        values["title"] = values["title"] or known.projects.get(project, "")
        link = _path("projects", project)
    elif entity == "fund":
        fund = str(data.get("fund_id") or h.entity_id)
        values["title"] = values["title"] or known.funds.get(fund, "")
        link = _path("funds", fund)
    elif entity == "action":
        values["title"] = values["title"] or known.actions.get(str(data.get("action_id")), "")
        link = "/dashboard/actions"
    elif entity in ("meeting", "agenda", "record", "minutes", "invitation"):
        meeting = data.get("meeting_id") or (h.entity_id if entity == "meeting" else None)
        link = _path("meetings", meeting) if meeting else "/dashboard/meetings"
        values["when"] = local_time(data.get("starts_at"), lang, str(data.get("region") or ""))
    elif entity == "agenda_item":
        link = "/dashboard/meetings"
    elif entity == "organisation":
        values["org"] = values["title"] or org
        values["kind"] = t(str(data.get("kind", "")), lang)
        region = str(data.get("region") or "")
        link = f"/dashboard/village?region={quote(region)}" if len(region) == 12 else None
    elif entity == "market":
        link = "/dashboard/market"
        values["category"] = category_label(str(data.get("family") or data.get("category") or ""), lang)
    key = f"{entity}.{verb}"
    if key not in SENTENCES:
        key = entity if entity in SENTENCES else ""
    zh, en = SENTENCES[key]
    return (zh if lang == "zh" else en).format_map(_Blank(values)), link


class _Blank(dict[str, Any]):
    """Format values where a missing one reads as nothing rather than failing."""

    def __missing__(self, key: str) -> str:
        return ""


def feed_lines(
    session: Session, happenings: Iterable[Happening], lang: Lang, fmt: str = "%m-%d %H:%M"
) -> list[FeedLine]:
    """The lines for ``happenings`` that have one, in their order, timed as ``fmt`` says."""
    happenings = list(happenings)
    known = _Lookups.read(session, happenings)
    lines = []
    for h in happenings:
        try:
            words = _words(h, lang, known)
        except (AttributeError, KeyError, TypeError, ValueError):  # an odd event has no line
            log.warning("no feed line for event %s (%s): its data is not as expected", h.position, h.type)
            continue
        if words is not None:
            text, link = words
            region = str(h.data.get("region") or "")
            when = local_time(h.time, lang, region, fmt, named=False)  # the panel names the zone
            lines.append(FeedLine(h.position, when, text, link, h.entity))
    return lines


def latest_lines(session: Session, lang: Lang, limit: int = 15) -> list[FeedLine]:
    """The newest ``limit`` lines, newest first (silent events are skipped, not counted)."""
    query = select(EventLogEntry).order_by(EventLogEntry.position.desc()).limit(limit * 4)
    return feed_lines(session, map(Happening.of_entry, session.scalars(query)), lang)[:limit]


def _line_for(session_factory: sessionmaker[Session], chunk: str, lang: Lang) -> FeedLine | None:
    position, payload = None, None
    for field in chunk.split("\n"):
        if field.startswith("id: "):
            position = int(field[4:])
        elif field.startswith("data: "):
            payload = field[6:]
    if position is None or payload is None:
        return None
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    try:
        with session_factory() as session:
            lines = feed_lines(session, [Happening.of_payload(position, event)], lang)
    except SQLAlchemyError:  # the stream goes on; this event's line is skipped
        log.warning("no feed line for event %s: the database did not answer", position, exc_info=True)
        return None
    return lines[0] if lines else None


async def narrated(
    chunks: AsyncIterable[str | bytes | memoryview], session_factory: sessionmaker[Session], lang: Lang
) -> AsyncIterator[str | bytes | memoryview]:
    """The server-sent events of ``chunks``, each followed by its line (an SSE event named
    ``feed``: the line's text, link and time as JSON) when it has one."""
    async for chunk in chunks:
        yield chunk
        text = chunk if isinstance(chunk, str) else bytes(chunk).decode()
        if text.startswith("id: "):
            line = await asyncio.to_thread(_line_for, session_factory, text, lang)
            if line is not None:
                yield f"event: feed\ndata: {json.dumps(line.as_json(), ensure_ascii=False)}\n\n"
