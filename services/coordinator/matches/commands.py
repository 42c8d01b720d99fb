"""What a coordinator may do to a proposal: withdraw it, or nudge its parties."""

from typing import Annotated, ClassVar

from pydantic import Field

from services.coordinator.bus import CommandBody
from shared.events.data import InstructionAction, InstructionIssued

__all__ = ["NudgeMatch", "WithdrawMatch"]


class WithdrawMatch(CommandBody):
    """Withdraw a proposal (the parties are told why); its partition is re-solved without it."""

    action: ClassVar[InstructionAction] = "withdraw_match"

    reason: Annotated[str, Field(max_length=1000)] = ""

    def instruction_reason(self) -> str:
        return self.reason

    @classmethod
    def from_instruction(cls, data: InstructionIssued) -> "WithdrawMatch":
        return cls(reason=data.reason)


class NudgeMatch(CommandBody):
    """Remind both parties of a proposal: its state is published again, naming who nudged."""

    action: ClassVar[InstructionAction] = "nudge_match"
