"""Tables of the questions feature: questions to a profession, invitations, opt-outs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class Question(Base):
    """A question posted in the questions room. Status: open, answered, closed.

    ``asker_id`` and ``text`` are emptied when the asker is forgotten; the answers in
    the thread belong to those who wrote them.
    """

    __tablename__ = "question_questions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    asker_id: Mapped[str | None] = mapped_column(String(255), index=True)
    profession: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    source_event: Mapped[str | None] = mapped_column(String(255), unique=True)
    room_id: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(255), index=True)
    answers: Mapped[int] = mapped_column(Integer, default=0)
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class QuestionInvite(Base):
    """A member invited to answer a question: the history fair rotation reads."""

    __tablename__ = "question_invites"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    question_id: Mapped[int] = mapped_column(_ID, index=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    round: Mapped[int] = mapped_column(Integer)
    invited_at: Mapped[datetime]


class QuestionPreference(Base):
    """Whether a member wants to be invited to answer questions (``!vragen aan|uit``)."""

    __tablename__ = "question_preferences"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    accepts: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]
