"""Exports: iCalendar (RFC 5545, via the icalendar library), minutes as Markdown and
printable HTML, action items as CSV; every label, and every agenda item's reason, in Chinese
or English; the minutes' times in the meeting's region's time zone, named (北京时间 / CST)."""

import csv
import html
import io
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal

from icalendar import Calendar, Event

from services.coordinator.meetings.localtime import local_time
from services.coordinator.meetings.models import ActionItem, Meeting, MeetingSeries
from shared.reasons import agenda_reason

__all__ = ["LABELS", "Language", "actions_csv", "calendar", "minutes_html", "minutes_markdown"]

Language = Literal["zh", "en"]

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "joint": "联席会议",
        "negotiation": "项目洽谈会",
        "minutes": "会议纪要",
        "series": "会议系列",
        "time": "时间",
        "location": "地点",
        "attendance": "出席",
        "present": "出席",
        "absent": "缺席",
        "quorum": "法定人数",
        "met": "已达到",
        "not_met": "未达到",
        "decisions": "决议",
        "outcome": "结果",
        "positions": "各方立场",
        "agree": "同意",
        "object": "反对",
        "abstain": "弃权",
        "approved": "通过",
        "rejected": "否决",
        "deferred": "暂缓",
        "referred": "移交",
        "actions": "行动事项",
        "owner": "责任单位",
        "due": "截止日期",
        "status": "状态",
        "title": "事项",
        "notes": "会议记录",
        "record_hash": "记录哈希",
        "agenda": "议程",
        "organisation": "组织",
        "open": "待办",
        "in_progress": "进行中",
        "blocked": "受阻",
        "done": "已完成",
        "overdue": "已逾期",
        "amendments": "更正",
        "reason": "原因",
    },
    "en": {
        "joint": "Joint meeting",
        "negotiation": "Project negotiation meeting",
        "minutes": "Minutes",
        "series": "Series",
        "time": "Time",
        "location": "Location",
        "attendance": "Attendance",
        "present": "present",
        "absent": "absent",
        "quorum": "Quorum",
        "met": "met",
        "not_met": "not met",
        "decisions": "Decisions",
        "outcome": "Outcome",
        "positions": "Positions",
        "agree": "agree",
        "object": "object",
        "abstain": "abstain",
        "approved": "approved",
        "rejected": "rejected",
        "deferred": "deferred",
        "referred": "referred",
        "actions": "Action items",
        "owner": "Owner",
        "due": "Due",
        "status": "Status",
        "title": "Item",
        "notes": "Notes",
        "record_hash": "Record hash",
        "agenda": "Agenda",
        "organisation": "Organisation",
        "open": "open",
        "in_progress": "in progress",
        "blocked": "blocked",
        "done": "done",
        "overdue": "overdue",
        "amendments": "Amendments",
        "reason": "Reason",
    },
}


def calendar(
    series: MeetingSeries,
    meetings: Iterable[Meeting],
    agendas: Mapping[str, list[dict[str, Any]]],
    lang: Language = "zh",
) -> bytes:
    """An iCalendar file with one event per meeting; the published agenda, with each item's
    reason in ``lang``, goes in the description."""
    cal = Calendar()
    cal.add("prodid", "-//Sifang//Joint meetings//ZH")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", series.name)
    for meeting in meetings:
        event = Event()
        event.add("uid", f"{meeting.id}@sifang")
        event.add("summary", f"{meeting.title}（{LABELS[lang][series.kind]}）")
        event.add("dtstart", meeting.starts_at)
        event.add("dtend", meeting.starts_at + timedelta(minutes=meeting.duration_minutes))
        event.add("dtstamp", meeting.created_at)
        event.add("location", meeting.location)
        items = agendas.get(meeting.id, [])
        description = "\n".join(
            f"{i['start_minute']:>3}′ {i['title']} — {agenda_reason(i, lang)}" for i in items
        )
        event.add("description", description or series.name)
        event.add("status", "CANCELLED" if meeting.status == "cancelled" else "CONFIRMED")
        cal.add_component(event)
    return bytes(cal.to_ical())


def _names(content: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, str]:
    return {
        a["organisation_id"]: names.get(a["organisation_id"], a["organisation_id"])
        for a in content["attendance"]
    } | dict(names)


def minutes_markdown(
    content: Mapping[str, Any],
    record_hash: str,
    names: Mapping[str, str],
    lang: Language,
    amendments: Iterable[Mapping[str, Any]] = (),
) -> str:
    t = LABELS[lang]
    names = _names(content, names)
    meeting = content["meeting"]
    when = local_time(meeting["starts_at"], lang, meeting.get("region", ""))
    lines = [
        f"# {meeting['title']} — {t['minutes']}",
        "",
        f"- {t['series']}: {meeting['series']} ({t[meeting['kind']]})",
        f"- {t['time']}: {when}",
        f"- {t['location']}: {meeting['location']}",
        f"- {t['quorum']}: {t['met'] if content['quorum']['met'] else t['not_met']}",
        "",
        f"## {t['attendance']}",
        "",
    ]
    for a in content["attendance"]:
        state = t["present"] if a["present"] else t["absent"]
        rep = f" ({a['representative']})" if a["representative"] else ""
        lines.append(f"- {names[a['organisation_id']]}{rep}: {state}")
    lines += ["", f"## {t['decisions']}", ""]
    for d in content["decisions"]:
        lines.append(f"### {d['title']} — {t[d['outcome']]}")
        for p in d["positions"]:
            reason = f": {p.get('reason')}" if p.get("reason") else ""
            lines.append(
                f"- {names.get(p['organisation_id'], p['organisation_id'])}: {t[p['position']]}{reason}"
            )
        if d["minutes"]:
            lines += ["", d["minutes"]]
        lines.append("")
    lines += [f"## {t['actions']}", "", f"| {t['title']} | {t['owner']} | {t['due']} |", "|---|---|---|"]
    for a in content["actions"]:
        owner = names.get(a["owner_organisation_id"], a["owner_organisation_id"])
        lines.append(f"| {a['title']} | {owner} | {a['due_date']} |")
    if content.get("minutes"):
        lines += ["", f"## {t['notes']}", "", content["minutes"]]
    amendments = list(amendments)
    if amendments:
        lines += ["", f"## {t['amendments']}", ""]
        lines += [
            f"- {local_time(a['at'], lang, meeting.get('region', ''))}: {a['text']} "
            f"({t['reason']}: {a['reason']})"
            for a in amendments
        ]
    lines += ["", f"{t['record_hash']}: `{record_hash}`", ""]
    return "\n".join(lines)


def minutes_html(
    content: Mapping[str, Any],
    record_hash: str,
    names: Mapping[str, str],
    lang: Language,
    amendments: Iterable[Mapping[str, Any]] = (),
) -> str:
    """A printable page: the same content as the Markdown, escaped, with print styles."""
    t = LABELS[lang]
    names = _names(content, names)
    e = html.escape
    meeting = content["meeting"]
    rows = "".join(
        f"<tr><td>{e(names[a['organisation_id']])}</td><td>{e(a['representative'])}</td>"
        f"<td>{t['present'] if a['present'] else t['absent']}</td></tr>"
        for a in content["attendance"]
    )
    decisions = ""
    for d in content["decisions"]:
        positions = "".join(
            f"<li>{e(names.get(p['organisation_id'], p['organisation_id']))}: {t[p['position']]}"
            f"{': ' + e(p['reason']) if p.get('reason') else ''}</li>"
            for p in d["positions"]
        )
        decisions += (
            f"<section><h3>{e(d['title'])} — <span class=outcome>{t[d['outcome']]}</span></h3>"
            f"<h4>{t['positions']}</h4><ul>{positions}</ul><p>{e(d['minutes'])}</p></section>"
        )
    actions = "".join(
        f"<tr><td>{e(a['title'])}</td>"
        f"<td>{e(names.get(a['owner_organisation_id'], a['owner_organisation_id']))}</td>"
        f"<td>{e(a['due_date'])}</td></tr>"
        for a in content["actions"]
    )
    region = meeting.get("region", "")
    corrections = "".join(
        f"<li>{e(local_time(a['at'], lang, region))}: {e(a['text'])} ({t['reason']}: {e(a['reason'])})</li>"
        for a in amendments
    )
    quorum = t["met"] if content["quorum"]["met"] else t["not_met"]
    when = local_time(meeting["starts_at"], lang, region)
    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">
<title>{e(meeting["title"])} — {t["minutes"]}</title>
<style>body{{font-family:"Noto Sans CJK SC","Source Han Sans",sans-serif;max-width:48em;margin:2em auto}}
table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #999;padding:.3em .5em;text-align:left}}
@media print{{body{{margin:0}} section{{break-inside:avoid}}}}</style></head><body>
<h1>{e(meeting["title"])} — {t["minutes"]}</h1>
<p>{t["series"]}: {e(meeting["series"])} ({t[meeting["kind"]]})<br>{t["time"]}: {e(when)}<br>
{t["location"]}: {e(meeting["location"])}<br>{t["quorum"]}: {quorum}</p>
<h2>{t["attendance"]}</h2><table><tr><th>{t["organisation"]}</th><th></th><th>{t["attendance"]}</th></tr>{rows}</table>
<h2>{t["decisions"]}</h2>{decisions}
<h2>{t["actions"]}</h2><table><tr><th>{t["title"]}</th><th>{t["owner"]}</th><th>{t["due"]}</th></tr>{actions}</table>
<h2>{t["notes"]}</h2><p>{e(content.get("minutes") or "")}</p>
{f"<h2>{t['amendments']}</h2><ul>{corrections}</ul>" if corrections else ""}
<p><small>{t["record_hash"]}: <code>{e(record_hash)}</code></small></p>
</body></html>
"""


def actions_csv(actions: Iterable[ActionItem], names: Mapping[str, str], lang: Language) -> str:
    t = LABELS[lang]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([t["title"], t["owner"], t["due"], t["status"], "id"])
    for a in actions:
        writer.writerow(
            [
                a.title,
                names.get(a.owner_organisation_id, a.owner_organisation_id),
                a.due_date.isoformat(),
                t[a.status],
                a.id,
            ]
        )
    return out.getvalue()
