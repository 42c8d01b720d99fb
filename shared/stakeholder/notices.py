"""The coordinator's whole-state events a stakeholder service keeps (projects, disputes): one
notice per entity, for the organisations it concerns, never overwritten by a late older copy."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import NotFound
from shared.events.validation import CheckedEvent
from shared.stakeholder.models import CoordinatorNotice, Organisation

__all__ = ["keep_whole_state", "notices_of", "own_notice"]


def keep_whole_state(
    session: Session, checked: CheckedEvent, entity: str, entity_id: str, concerns: list[str], version: int
) -> None:
    """Keep ``checked``'s data as the entity's state if it concerns one of our organisations and
    is newer than the state kept."""
    notice = session.get(CoordinatorNotice, (entity, entity_id))
    if notice is None:
        ours = session.scalars(select(Organisation.id).where(Organisation.id.in_(concerns))).first()
        if ours is None:
            return
        notice = CoordinatorNotice(entity=entity, entity_id=entity_id, organisations=[], state={})
        session.add(notice)
    elif isinstance(known := notice.state.get("version"), int) and version <= known:
        return  # a late copy of an earlier state
    notice.organisations = sorted({*notice.organisations, *concerns})
    notice.state = checked.data.model_dump(mode="json")
    notice.updated_at = checked.envelope.time
    notice.region = checked.envelope.region


def own_notice(session: Session, org: Organisation, entity: str, entity_id: str) -> CoordinatorNotice:
    """The notice of an entity concerning ``org``; others' are not found."""
    notice = session.get(CoordinatorNotice, (entity, entity_id))
    if notice is None or org.id not in notice.organisations:
        raise NotFound(f"no {entity} {entity_id!r} concerning this organisation", field=f"{entity}_id")
    return notice


def notices_of(session: Session, org: Organisation, entity: str) -> list[CoordinatorNotice]:
    """The notices of ``entity`` concerning ``org``, latest first."""
    rows = session.scalars(
        select(CoordinatorNotice)
        .where(CoordinatorNotice.entity == entity)
        .order_by(CoordinatorNotice.updated_at.desc())
    )
    return [row for row in rows if org.id in row.organisations]
