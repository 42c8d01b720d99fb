"""Compiling a meeting's agenda from live state: what qualifies, ranked by a stated rule, then
time-boxed. Pure; no I/O (``sources.py`` fetches the rows these rules read).

What qualifies for the agenda of a meeting of a series, as of its cut-off (``as_of``):

- **proposal / dispute**: pending, raised at or before the cut-off, for this series, or for no
  series and raised in the series' region (a dispute never names a series). A dispute goes to
  mediation first (``shared/mediation_rules.py``): it is pending once escalated (the mediation
  failed or ran out of time); one nobody took up as mediator qualifies once the time to assign
  one (3 days) has passed; one in mediation or settled does not;
- **unmatched_need**: an open need in the region, without an active match (proposed, confirmed
  or fulfilled), published at least ``unmatched_days`` (14) days before the cut-off;
- **stalled_match**: a need in the region with at least two match proposals declined or expired
  at or before the cut-off;
- **overdue_action**: an action decided at a meeting of this series, now overdue;
- **overdue_milestone**: a milestone of an active cross-sector project of the region (or one a
  meeting of this series decided), past its due date unfinished;
- **new_programme**: an open government offer in the region published after the previous
  meeting of the series (or the series' creation) and at or before the cut-off.

Sources, with the priority rule (higher first; ties: the older item, then its key):

==================  ==========================================================  =========
source              priority                                                    minutes
==================  ==========================================================  =========
dispute             90                                                          20
overdue_action      80 + days overdue (at most +10)                             10
overdue_milestone   70 + days overdue (at most +10)                             10
proposal            60                                                          15
stalled_match       50 + 5 per decline or expiry beyond the second (at most +15)  10
unmatched_need      40 + 3 per week waiting beyond the threshold (at most +15)  5
new_programme       30                                                          10
==================  ==========================================================  =========

Items are placed in that order into the meeting's duration; an item that does not fit what
is left rolls to the next meeting (it stays in the live state, so the next compilation
meets it again, older and so no lower). The same state and cut-off give the same agenda.

An item is stored as data, never as a sentence: why it is there is ``reason_code`` with
``reason_params`` (``agenda_unmatched_need`` with ``{"days": 20}``, ``agenda_stalled_match``
with ``{"count": 2}``, ``agenda_overdue_action`` with ``{"due_date": "2026-11-20"}``, ...), and
the rule that ranked it is ``priority_rule_code`` with ``priority_params`` (``{"base": 80,
"bonus": 10}``); :mod:`shared.reasons` renders both in the reader's language
(:func:`shared.reasons.agenda_reason`, :func:`shared.reasons.agenda_rule`). The key ``reason``
holds only words a coordinator typed. Versions stored before the codes hold English
``reason`` and ``priority_rule`` sentences instead, which are shown as they are.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.coordinator.matches.lifecycle import REFUSED
from shared.mediation_rules import LIMITS
from shared.regions import covers

__all__ = [
    "DEFAULT_UNMATCHED_DAYS",
    "RULES",
    "STALLED_AFTER",
    "AgendaCandidate",
    "AgendaReason",
    "AgendaScope",
    "LiveAction",
    "LiveMilestone",
    "LiveNeed",
    "LiveOffer",
    "RaisedItem",
    "Refusal",
    "compile_agenda",
    "new_programmes",
    "overdue_actions",
    "overdue_milestones",
    "qualifying",
    "raised_items",
    "slot_items",
    "stalled_matches",
    "unmatched_needs",
]

DEFAULT_UNMATCHED_DAYS = 14
MEDIATOR_WITHIN = LIMITS["assign_mediator"]  # a dispute nobody mediates by then comes to the meeting
STALLED_AFTER = 2  # declined or expired proposals before a need comes up as stalled

RULES: dict[str, tuple[int, int]] = {
    "dispute": (90, 20),
    "overdue_action": (80, 10),
    "overdue_milestone": (70, 10),
    "proposal": (60, 15),
    "stalled_match": (50, 10),
    "unmatched_need": (40, 5),
    "new_programme": (30, 10),
}


@dataclass(frozen=True)
class AgendaReason:
    """A code of :data:`shared.reasons.TEXTS` and its parameters (plain JSON values)."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AgendaCandidate:
    key: str
    source: str
    title: str
    reason: AgendaReason
    link: str
    since: datetime
    organisation_id: str | None = None
    weight: int = 0  # days overdue, declines beyond two, or weeks waiting beyond the threshold

    def priority(self) -> tuple[int, AgendaReason]:
        """The priority and the rule that gives it (``priority_<source>``, base and bonus)."""
        base, _ = RULES[self.source]
        if self.source in ("overdue_action", "overdue_milestone"):
            bonus = min(10, self.weight)
        elif self.source == "stalled_match":
            bonus = min(15, 5 * self.weight)
        elif self.source == "unmatched_need":
            bonus = min(15, 3 * self.weight)
        else:
            bonus = 0
        return base + bonus, AgendaReason(f"priority_{self.source}", {"base": base, "bonus": bonus})


def _as_item(candidate: AgendaCandidate) -> dict[str, Any]:
    priority, rule = candidate.priority()
    return {
        "key": candidate.key,
        "source": candidate.source,
        "title": candidate.title,
        "reason_code": candidate.reason.code,
        "reason_params": dict(candidate.reason.params),
        "link": candidate.link,
        "organisation_id": candidate.organisation_id,
        "since": candidate.since.isoformat(),
        "priority": priority,
        "priority_rule_code": rule.code,
        "priority_params": dict(rule.params),
        "minutes": RULES[candidate.source][1],
    }


def slot_items(
    items: Iterable[dict[str, Any]], duration_minutes: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Give items consecutive time slots in the given order; those that do not fit roll over."""
    placed: list[dict[str, Any]] = []
    overflow: list[dict[str, Any]] = []
    clock = 0
    for item in items:
        if clock + int(item["minutes"]) <= duration_minutes:
            placed.append(item | {"start_minute": clock, "end_minute": clock + int(item["minutes"])})
            clock += int(item["minutes"])
        else:
            overflow.append({k: v for k, v in item.items() if k not in ("start_minute", "end_minute")})
    return placed, overflow


def compile_agenda(
    candidates: Iterable[AgendaCandidate], duration_minutes: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rank the candidates by the rule above and time-box them into the meeting."""
    unique = {c.key: c for c in candidates}
    ranked = sorted(unique.values(), key=lambda c: (-c.priority()[0], c.since, c.key))
    return slot_items((_as_item(c) for c in ranked), duration_minutes)


# -- what qualifies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgendaScope:
    """The meeting an agenda is compiled for: its series and region, its cut-off, since when
    news counts (the previous meeting of the series, or the series' creation), and how many
    days a need waits unmatched before it comes up."""

    series_id: str
    region: str
    as_of: datetime
    since: datetime
    unmatched_days: int = DEFAULT_UNMATCHED_DAYS


@dataclass(frozen=True)
class RaisedItem:
    """An item an organisation proposed for an agenda, or a dispute a community raised."""

    id: str
    source: str  # proposal or dispute
    organisation_id: str
    series_id: str | None
    region: str
    title: str
    status: str  # pending, decided; a dispute: awaiting_mediator, in_mediation, settled
    raised_at: datetime


@dataclass(frozen=True)
class LiveNeed:
    id: str
    title: str
    organisation_id: str
    region: str
    status: str
    published_at: datetime
    matched: bool  # it has an active match


@dataclass(frozen=True)
class Refusal:
    """A match proposal for a need that was declined or expired, with the need if it is known."""

    need_id: str
    region: str
    status: str
    updated_at: datetime
    need_title: str | None = None
    need_organisation_id: str | None = None


@dataclass(frozen=True)
class LiveAction:
    id: str
    series_id: str  # the series of the meeting that decided it
    title: str
    owner_organisation_id: str
    status: str
    due_date: date


@dataclass(frozen=True)
class LiveMilestone:
    """A milestone of a cross-sector project, with where the project belongs."""

    project_id: str
    milestone_id: str
    project_title: str
    title: str
    lead_organisation_id: str
    region: str
    series_id: str | None  # the series of the meeting that decided the project, if one did
    status: str
    due_date: date


@dataclass(frozen=True)
class LiveOffer:
    id: str
    kind: str  # the kind of organisation offering it
    title: str
    organisation_id: str
    region: str
    status: str
    published_at: datetime


def raised_items(items: Iterable[RaisedItem], scope: AgendaScope) -> list[AgendaCandidate]:
    """Pending proposals and disputes of this series, or of no series and of its region."""
    found = []
    for item in items:
        ours = item.series_id == scope.series_id or (
            item.series_id is None and covers(scope.region, item.region)
        )
        unmediated = item.status == "awaiting_mediator" and item.raised_at + MEDIATOR_WITHIN <= scope.as_of
        if not (item.status == "pending" or unmediated) or item.raised_at > scope.as_of or not ours:
            continue
        source = "dispute" if item.source == "dispute" else "proposal"
        found.append(
            AgendaCandidate(
                f"{source}:{item.id}",
                source,
                item.title,
                AgendaReason(f"agenda_{source}"),
                f"/{source}s/{item.id}",
                item.raised_at,
                item.organisation_id,
            )
        )
    return found


def unmatched_needs(needs: Iterable[LiveNeed], scope: AgendaScope) -> list[AgendaCandidate]:
    """Open needs of the region without an active match for ``unmatched_days`` or more."""
    threshold = scope.as_of - timedelta(days=scope.unmatched_days)
    found = []
    for need in needs:
        if need.status != "open" or need.matched or need.published_at > threshold:
            continue
        if not covers(scope.region, need.region):
            continue
        waited = (scope.as_of - need.published_at).days
        found.append(
            AgendaCandidate(
                f"need:{need.id}",
                "unmatched_need",
                need.title,
                AgendaReason("agenda_unmatched_need", {"days": waited}),
                f"/needs/{need.id}",
                need.published_at,
                need.organisation_id,
                weight=(waited - scope.unmatched_days) // 7,
            )
        )
    return found


def stalled_matches(refusals: Iterable[Refusal], scope: AgendaScope) -> list[AgendaCandidate]:
    """Needs of the region whose proposals were declined or expired ``STALLED_AFTER`` times or more."""
    by_need: dict[str, list[Refusal]] = defaultdict(list)
    for refusal in refusals:
        if (
            refusal.status in REFUSED
            and refusal.updated_at <= scope.as_of
            and covers(scope.region, refusal.region)
        ):
            by_need[refusal.need_id].append(refusal)
    found = []
    for need_id, refused in by_need.items():
        if len(refused) < STALLED_AFTER:
            continue
        need = refused[0]
        found.append(
            AgendaCandidate(
                f"stalled:{need_id}",
                "stalled_match",
                need.need_title if need.need_title is not None else need_id,
                AgendaReason("agenda_stalled_match", {"count": len(refused)}),
                f"/matches?need_id={need_id}",
                min(r.updated_at for r in refused),
                need.need_organisation_id,
                weight=len(refused) - STALLED_AFTER,
            )
        )
    return found


def overdue_actions(actions: Iterable[LiveAction], scope: AgendaScope) -> list[AgendaCandidate]:
    """Overdue actions decided at meetings of this series; the longer overdue, the higher."""
    return [
        AgendaCandidate(
            f"action:{action.id}",
            "overdue_action",
            action.title,
            AgendaReason("agenda_overdue_action", {"due_date": action.due_date.isoformat()}),
            f"/actions/{action.id}",
            datetime.combine(action.due_date, datetime.min.time(), UTC),
            action.owner_organisation_id,
            weight=(scope.as_of.date() - action.due_date).days,
        )
        for action in actions
        if action.status == "overdue" and action.series_id == scope.series_id
    ]


def overdue_milestones(milestones: Iterable[LiveMilestone], scope: AgendaScope) -> list[AgendaCandidate]:
    """Overdue milestones of projects of the region or decided in this series."""
    return [
        AgendaCandidate(
            f"milestone:{m.project_id}:{m.milestone_id}",
            "overdue_milestone",
            f"{m.project_title} · {m.title}",
            AgendaReason("agenda_overdue_milestone", {"due_date": m.due_date.isoformat()}),
            f"/projects/{m.project_id}",
            datetime.combine(m.due_date, datetime.min.time(), UTC),
            m.lead_organisation_id,
            weight=(scope.as_of.date() - m.due_date).days,
        )
        for m in milestones
        if m.status == "overdue" and (m.series_id == scope.series_id or covers(scope.region, m.region))
    ]


def new_programmes(offers: Iterable[LiveOffer], scope: AgendaScope) -> list[AgendaCandidate]:
    """Open government offers of the region published since the previous meeting."""
    return [
        AgendaCandidate(
            f"programme:{offer.id}",
            "new_programme",
            offer.title,
            AgendaReason("agenda_new_programme"),
            f"/offers/{offer.id}",
            offer.published_at,
            offer.organisation_id,
        )
        for offer in offers
        if offer.kind == "government"
        and offer.status == "open"
        and scope.since < offer.published_at <= scope.as_of
        and covers(scope.region, offer.region)
    ]


def qualifying(
    scope: AgendaScope,
    *,
    raised: Iterable[RaisedItem] = (),
    needs: Iterable[LiveNeed] = (),
    refusals: Iterable[Refusal] = (),
    actions: Iterable[LiveAction] = (),
    milestones: Iterable[LiveMilestone] = (),
    offers: Iterable[LiveOffer] = (),
) -> list[AgendaCandidate]:
    """Everything in the live state that should come before the meeting ``scope`` describes."""
    return [
        *raised_items(raised, scope),
        *unmatched_needs(needs, scope),
        *stalled_matches(refusals, scope),
        *overdue_actions(actions, scope),
        *overdue_milestones(milestones, scope),
        *new_programmes(offers, scope),
    ]
