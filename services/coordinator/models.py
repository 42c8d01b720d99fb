"""The tables of the coordinator's database, gathered from each domain's ``models``."""

from services.coordinator.access.models import ApiToken, CoordinatorAccount
from services.coordinator.book.models import BookNeed, BookOffer, BookOfferArea, OfferElsewhere, SharedOffer
from services.coordinator.dashboard.models import DashboardSession, LoginAttempt
from services.coordinator.funds.models import LedgerAllocation, LedgerFund, LedgerMovement, LedgerShare
from services.coordinator.integrations.models import WebhookDelivery, WebhookSubscription
from services.coordinator.journal.models import EventLogEntry, HeldEvent, PartitionRecord
from services.coordinator.market.models import MarketCell
from services.coordinator.matches.models import DirtyPartition, Match
from services.coordinator.mediation.models import Dispute, MediationRecord
from services.coordinator.meetings.models import (
    ActionItem,
    AgendaProposal,
    AgendaVersion,
    Decision,
    Invitation,
    Meeting,
    MeetingRecord,
    MeetingSeries,
)
from services.coordinator.projects.models import Project
from services.coordinator.registry.models import RegisteredOrganisation
from shared.messaging.models import MESSAGING_TABLES

__all__ = ["TABLES"]

TABLES = (
    *MESSAGING_TABLES,
    RegisteredOrganisation.__table__,
    BookNeed.__table__,
    BookOffer.__table__,
    EventLogEntry.__table__,
    HeldEvent.__table__,
    BookOfferArea.__table__,
    Match.__table__,
    DirtyPartition.__table__,
    MarketCell.__table__,
    LedgerFund.__table__,
    LedgerShare.__table__,
    LedgerAllocation.__table__,
    LedgerMovement.__table__,
    Project.__table__,
    Dispute.__table__,
    MediationRecord.__table__,
    MeetingSeries.__table__,
    Meeting.__table__,
    AgendaVersion.__table__,
    Invitation.__table__,
    AgendaProposal.__table__,
    Decision.__table__,
    ActionItem.__table__,
    MeetingRecord.__table__,
    WebhookSubscription.__table__,
    WebhookDelivery.__table__,
    CoordinatorAccount.__table__,
    DashboardSession.__table__,
    LoginAttempt.__table__,
    ApiToken.__table__,
    PartitionRecord.__table__,
    SharedOffer.__table__,
    OfferElsewhere.__table__,
)
