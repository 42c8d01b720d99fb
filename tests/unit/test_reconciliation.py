"""Reconciling standing proposals with a new allocation (matching/reconciliation.py): what is
kept, what is withdrawn and why, and what is proposed anew, in which order."""

from services.coordinator.matching import Candidate, NeedItem, OfferItem, Party
from services.coordinator.matching.allocation import Allocation
from services.coordinator.matching.reconciliation import (
    NEED_GONE,
    OFFER_GONE,
    REPLACED,
    TOLERANCE,
    Amendment,
    StandingProposal,
    Withdrawal,
    reconcile,
)

TERMS = {"proximity": 1.0, "urgency": 0.5, "quantity_fit": 1.0, "quality": 1.0, "record": 0.5}


def _need(need_id: str) -> NeedItem:
    party = Party(f"org-{need_id}", "community", "610124104201")
    return NeedItem(need_id, party, "produce.fruit.kiwifruit", 100.0, "kg", "610124104201")


def _offer(offer_id: str) -> OfferItem:
    return OfferItem(
        offer_id, f"org-{offer_id}", "produce.fruit.kiwifruit", 100.0, "kg", "610124104201", ("610124",)
    )


def _allocation(need_id: str, offer_id: str, quantity: float) -> Allocation:
    return Allocation(Candidate.of(_need(need_id), _offer(offer_id), TERMS), quantity, "need")


def _book(*allocations: Allocation) -> dict[tuple[str, str], Allocation]:
    return {(a.candidate.need.id, a.candidate.offer.id): a for a in allocations}


def _pairs(allocations: tuple[Allocation, ...]) -> list[tuple[str, str]]:
    return [(a.candidate.need.id, a.candidate.offer.id) for a in allocations]


OPEN_NEEDS = frozenset({"n1", "n2", "n3"})
OPEN_OFFERS = frozenset({"o1", "o2", "o3"})


def test_a_proposal_accepted_by_one_party_is_kept_though_the_allocation_drops_it() -> None:
    standing = [StandingProposal("m1", "n1", "o1", 10.0, accepted=True)]
    outcome = reconcile(standing, {}, OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.kept == frozenset({"m1"})
    assert outcome.withdrawn == ()
    assert outcome.proposed == ()


def test_an_accepted_proposal_is_kept_even_when_its_sides_left_the_open_book() -> None:
    standing = [StandingProposal("m1", "n1", "o1", 10.0, accepted=True)]
    outcome = reconcile(standing, {}, frozenset(), frozenset())
    assert outcome.kept == frozenset({"m1"})
    assert outcome.withdrawn == ()


def test_an_unchanged_pair_is_kept_and_not_proposed_again() -> None:
    standing = [StandingProposal("m1", "n1", "o1", 10.0, accepted=False)]
    outcome = reconcile(standing, _book(_allocation("n1", "o1", 10.0)), OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.kept == frozenset({"m1"})
    assert outcome.withdrawn == ()
    assert outcome.proposed == ()


def test_a_quantity_within_the_tolerance_counts_as_unchanged() -> None:
    standing = [StandingProposal("m1", "n1", "o1", 10.0, accepted=False)]
    nearly = 10.0 + TOLERANCE / 2
    outcome = reconcile(standing, _book(_allocation("n1", "o1", nearly)), OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.kept == frozenset({"m1"})
    assert outcome.proposed == ()


def test_an_unanswered_proposal_whose_share_changed_is_amended_not_replaced() -> None:
    standing = [StandingProposal("m1", "n1", "o1", 10.0, accepted=False)]
    new = _allocation("n1", "o1", 10.0 + 10 * TOLERANCE)
    outcome = reconcile(standing, _book(new), OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.kept == frozenset()
    assert outcome.withdrawn == ()
    assert outcome.amended == (Amendment("m1", new),)
    assert outcome.proposed == ()  # the pair has its proposal: nothing new for it


def test_an_accepted_proposal_is_never_amended_and_an_extra_allocation_is_proposed_beside_it() -> None:
    standing = [StandingProposal("m1", "n1", "o1", 10.0, accepted=True)]
    extra = _allocation("n1", "o1", 4.0)
    outcome = reconcile(standing, _book(extra), OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.kept == frozenset({"m1"}) and outcome.amended == ()
    assert outcome.proposed == (extra,)


def test_a_second_unanswered_proposal_of_the_same_pair_is_withdrawn_not_amended_too() -> None:
    standing = [
        StandingProposal("m1", "n1", "o1", 10.0, accepted=False),
        StandingProposal("m2", "n1", "o1", 3.0, accepted=False),
    ]
    new = _allocation("n1", "o1", 8.0)
    outcome = reconcile(standing, _book(new), OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.amended == (Amendment("m1", new),)
    assert outcome.withdrawn == (Withdrawal("m2", REPLACED),)
    assert outcome.proposed == ()


def test_a_pair_the_allocation_drops_is_withdrawn_and_a_new_pair_proposed() -> None:
    standing = [StandingProposal("m1", "n1", "o1", 10.0, accepted=False)]
    new = _allocation("n1", "o2", 10.0)
    outcome = reconcile(standing, _book(new), OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.withdrawn == (Withdrawal("m1", REPLACED),) and outcome.amended == ()
    assert outcome.proposed == (new,)


def test_the_reason_names_the_need_when_the_need_left_the_open_book() -> None:
    standing = [StandingProposal("m1", "n9", "o1", 10.0, accepted=False)]
    outcome = reconcile(standing, {}, OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.withdrawn == (Withdrawal("m1", NEED_GONE),)
    assert "need" in NEED_GONE


def test_the_reason_names_the_offer_when_the_offer_left_the_open_book() -> None:
    standing = [StandingProposal("m1", "n1", "o9", 10.0, accepted=False)]
    outcome = reconcile(standing, {}, OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.withdrawn == (Withdrawal("m1", OFFER_GONE),)
    assert "offer" in OFFER_GONE


def test_the_need_is_named_first_when_both_sides_left() -> None:
    standing = [StandingProposal("m1", "n9", "o9", 10.0, accepted=False)]
    outcome = reconcile(standing, {}, OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.withdrawn == (Withdrawal("m1", NEED_GONE),)


def test_the_reason_is_replaced_when_both_sides_are_still_open() -> None:
    standing = [StandingProposal("m1", "n1", "o1", 10.0, accepted=False)]
    outcome = reconcile(standing, _book(_allocation("n1", "o2", 10.0)), OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.withdrawn == (Withdrawal("m1", REPLACED),)
    assert _pairs(outcome.proposed) == [("n1", "o2")]
    assert len({NEED_GONE, OFFER_GONE, REPLACED}) == 3


def test_proposals_come_out_in_need_offer_order() -> None:
    scrambled = [
        _allocation("n2", "o1", 1.0),
        _allocation("n1", "o3", 1.0),
        _allocation("n3", "o1", 1.0),
        _allocation("n1", "o1", 1.0),
        _allocation("n2", "o2", 1.0),
    ]
    outcome = reconcile([], _book(*scrambled), OPEN_NEEDS, OPEN_OFFERS)
    assert _pairs(outcome.proposed) == [("n1", "o1"), ("n1", "o3"), ("n2", "o1"), ("n2", "o2"), ("n3", "o1")]


def test_withdrawals_come_out_in_match_id_order() -> None:
    standing = [
        StandingProposal("m3", "n1", "o1", 1.0, accepted=False),
        StandingProposal("m1", "n2", "o2", 1.0, accepted=False),
        StandingProposal("m2", "n9", "o3", 1.0, accepted=False),
    ]
    outcome = reconcile(standing, {}, OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.withdrawn == (
        Withdrawal("m1", REPLACED),
        Withdrawal("m2", NEED_GONE),
        Withdrawal("m3", REPLACED),
    )


def test_an_accepted_proposals_pair_that_is_allocated_again_is_proposed_again() -> None:
    # The re-solve counts an accepted proposal's quantity as held, so an allocation of the
    # same pair is for what the need still lacks: a further proposal beside the kept one.
    standing = [StandingProposal("m1", "n1", "o1", 10.0, accepted=True)]
    more = _allocation("n1", "o1", 5.0)
    outcome = reconcile(standing, _book(more), OPEN_NEEDS, OPEN_OFFERS)
    assert outcome.kept == frozenset({"m1"})
    assert outcome.withdrawn == ()
    assert outcome.proposed == (more,)


def test_a_mixed_partition() -> None:
    standing = [
        StandingProposal("m4", "n1", "o1", 10.0, accepted=False),  # unchanged: kept
        StandingProposal("m2", "n2", "o2", 10.0, accepted=False),  # quantity changed: amended
        StandingProposal("m3", "n3", "o9", 10.0, accepted=False),  # offer left
        StandingProposal("m1", "n3", "o3", 10.0, accepted=True),  # accepted: kept
    ]
    allocations = _book(
        _allocation("n2", "o2", 7.0),
        _allocation("n1", "o1", 10.0),
        _allocation("n3", "o1", 3.0),
    )
    outcome = reconcile(iter(standing), allocations, {"n1", "n2", "n3"}, {"o1", "o2", "o3"})
    assert outcome.kept == frozenset({"m1", "m4"})
    assert outcome.withdrawn == (Withdrawal("m3", OFFER_GONE),)
    assert [(a.match_id, a.allocation.quantity) for a in outcome.amended] == [("m2", 7.0)]
    assert _pairs(outcome.proposed) == [("n3", "o1")]
