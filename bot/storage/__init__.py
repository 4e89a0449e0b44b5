"""Storage: the async engine, sessions, the declarative base and the core tables."""

from bot.storage.database import Database
from bot.storage.models import Base
from bot.storage.results import rowcount

__all__ = ["Base", "Database", "rowcount"]
