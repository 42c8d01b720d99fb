"""The record of a series: minutes and amendments appended to its hash chain (``chain.py``),
approved by every party present until locked, and checked by recomputing the chain."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.journal.service import new_id, publish
from services.coordinator.meetings.chain import GENESIS, ChainLink, hash_record, verify_links
from services.coordinator.meetings.models import Meeting, MeetingRecord, MeetingSeries
from services.coordinator.meetings.series import get_meeting
from shared.errors import Conflict
from shared.events.data import RecordData

__all__ = [
    "add_amendment",
    "append_record",
    "approve_minutes",
    "minutes_of",
    "record_data",
    "verify_chain",
]


def append_record(
    session: Session,
    series: MeetingSeries,
    meeting: Meeting,
    kind: str,
    content: dict[str, Any],
    parties: list[str],
    now: datetime,
) -> MeetingRecord:
    """A new record at the head of the series' chain."""
    last = session.scalar(
        select(MeetingRecord)
        .where(MeetingRecord.series_id == series.id)
        .order_by(MeetingRecord.sequence.desc())
        .limit(1)
    )
    previous = last.record_hash if last else GENESIS
    record = MeetingRecord(
        id=new_id(session),
        series_id=series.id,
        meeting_id=meeting.id,
        sequence=(last.sequence + 1) if last else 1,
        kind=kind,
        content=content,
        previous_hash=previous,
        record_hash=hash_record(previous, content),
        parties=parties,
        approved_by=[],
        locked_at=None,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record


def record_data(record: MeetingRecord) -> RecordData:
    return RecordData(
        record_id=record.id,
        meeting_id=record.meeting_id,
        sequence=record.sequence,
        record_kind=record.kind,
        record_hash=record.record_hash,
        previous_hash=record.previous_hash,
        parties=list(record.parties),
        approved_by=list(record.approved_by),
        locked=record.locked_at is not None,
        content=record.content,
    )


def minutes_of(session: Session, meeting_id: str) -> MeetingRecord | None:
    """The meeting's minutes, once it is closed."""
    return session.scalar(
        select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id, MeetingRecord.kind == "minutes")
    )


def approve_minutes(
    session: Session, meeting_id: str, organisation_id: str, record_hash: str, now: datetime
) -> MeetingRecord | None:
    """A party's approval; the record locks when every party approved. None if it no longer applies."""
    record = minutes_of(session, meeting_id)
    if record is None or record.record_hash != record_hash or organisation_id not in record.parties:
        return None
    if organisation_id in record.approved_by or record.locked_at is not None:
        return record
    record.approved_by = sorted({*record.approved_by, organisation_id})
    if set(record.approved_by) == set(record.parties):
        record.locked_at = now
        meeting, series = get_meeting(session, meeting_id)
        meeting.status = "locked"
        session.flush()
        publish(session, "sifang.record.locked.v1", record_data(record), series.region, correlated=False)
    return record


def add_amendment(
    session: Session, meeting_id: str, *, text: str, reason: str, by: str, now: datetime
) -> MeetingRecord:
    """A correction of a closed meeting's minutes, appended to the chain."""
    meeting, series = get_meeting(session, meeting_id)
    if meeting.status not in ("closed", "locked"):
        raise Conflict("amendments correct a closed record; the meeting is still open", field="status")
    minutes = minutes_of(session, meeting_id)
    assert minutes is not None
    content = {
        "amends": minutes.id,
        "amends_hash": minutes.record_hash,
        "text": text,
        "reason": reason,
        "by": by,
        "at": now.isoformat(),
    }
    record = append_record(session, series, meeting, "amendment", content, list(minutes.parties), now)
    publish(session, "sifang.record.amended.v1", record_data(record), series.region, correlated=False)
    return record


def verify_chain(session: Session, series_id: str) -> dict[str, Any]:
    """Recompute the series' hash chain: any edit to a stored record breaks it. ``head`` is
    there only when the chain is valid."""
    records = session.scalars(
        select(MeetingRecord).where(MeetingRecord.series_id == series_id).order_by(MeetingRecord.sequence)
    )
    verdict = verify_links(ChainLink(r.sequence, r.previous_hash, r.content, r.record_hash) for r in records)
    if not verdict.valid:
        return {"valid": False, "records": verdict.records, "broken_at": verdict.broken_at}
    return {"valid": True, "records": verdict.records, "broken_at": None, "head": verdict.head}
