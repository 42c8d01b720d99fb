"""Matching: which needs and offers can go together, how good each pairing is, and the
optimal allocation of quantities. Pure functions over plain data; no I/O."""

from services.coordinator.matching.allocation import Allocation, allocate, greedy_allocate, objective
from services.coordinator.matching.filters import Candidate, NeedItem, OfferItem, Party, candidates_for

__all__ = [
    "Allocation",
    "Candidate",
    "NeedItem",
    "OfferItem",
    "Party",
    "allocate",
    "candidates_for",
    "greedy_allocate",
    "objective",
]
