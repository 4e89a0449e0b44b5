"""The privacy guard cases have always used; it lives in ``bot.privacy_guard`` now, as a
service for every feature that posts a member's text."""

from bot.privacy_guard import CATEGORIES, MASK, Finding, categories, mask, screen

__all__ = ["CATEGORIES", "MASK", "Finding", "categories", "mask", "screen"]
