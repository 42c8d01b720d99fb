"""A coordinator's commands about disputes."""

from typing import ClassVar

from services.coordinator.bus import CommandBody
from shared.events.data import InstructionAction

__all__ = ["AssignMediator"]


class AssignMediator(CommandBody):
    """Name the neutral social-work organisation that mediates a dispute."""

    action: ClassVar[InstructionAction] = "assign_mediator"

    mediator_organisation_id: str
