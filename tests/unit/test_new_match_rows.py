"""A new proposal is written as a row (``NewMatch``), not an ORM object: it must carry every
column of a match, or a column added later would be silently empty on new proposals."""

from dataclasses import fields

from services.coordinator.matches.models import Match
from services.coordinator.matches.service import NewMatch


def test_a_new_proposal_carries_every_column_of_a_match() -> None:
    assert {f.name for f in fields(NewMatch)} == set(Match.__table__.columns.keys())
