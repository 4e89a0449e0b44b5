"""The seam through which other features ask one yes/no question at the end of a
member's first introduction (the digest: "a short overview every Monday?").

A feature implements :class:`IntroductionOffer` on its feature class; introductions
finds every such feature in the registry, asks each question (answered by
number, label or alias like the other yes/no questions) and hands the answer back.
Introductions never touches the other feature's tables: the feature stores the choice
itself and says, in its own words, what it did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.context import Context
    from bot.formatting import Markup
    from bot.registry import Registry


@runtime_checkable
class IntroductionOffer(Protocol):
    name: str
    offer_question: str
    """The catalogue key of the question; it is answered yes or no."""

    async def offer_answered(self, ctx: Context, accepted: bool) -> Markup:
        """Store the member's choice; returns a sentence for the thank-you message."""
        ...


def answer_name(offer: IntroductionOffer) -> str:
    """Where the conversation keeps the answer (flow-internal: never a profile field)."""
    return f"_offer_{offer.name}"


def offers_in(registry: Registry) -> list[IntroductionOffer]:
    """Every loaded feature that makes an offer, in load order."""
    return [f for f in registry.features if isinstance(f, IntroductionOffer)]
