"""Response schemas of the matches."""

from datetime import datetime

from shared.events.data import MatchData

__all__ = ["MatchRead"]


class MatchRead(MatchData):
    """A match as the coordinator holds it; ``explanation.summary_en``/``summary_zh`` say why."""

    partition: str
    updated_at: datetime
