"""Tables of the casus feature: posted cases and their steps, who contributed, who was
invited, members' own cases, and the small markers that keep promises "once"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class CasusSchedule(Base):
    """A theme's schedule as last seen, and since when: what fell due while the bot was
    down is owed only from then on."""

    __tablename__ = "casus_schedules"

    theme: Mapped[str] = mapped_column(String(64), primary_key=True)
    cron: Mapped[str] = mapped_column(String(64))
    every_weeks: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime]


class CasusRun(Base):
    """One case posted in a theme room: claimed before it is posted, then its steps.

    ``slot`` is what the post was for (a schedule's occurrence, or a moderator's
    command event): unique per theme, so however often a job runs, one post.
    """

    __tablename__ = "casus_runs"
    __table_args__ = (UniqueConstraint("theme", "slot", name="uq_casus_runs_theme_slot"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    theme: Mapped[str] = mapped_column(String(64), index=True)
    slot: Mapped[str] = mapped_column(String(128))
    case_id: Mapped[str] = mapped_column(String(64))
    # Which pass through the theme's bank this post belongs to (no repeats within one).
    round: Mapped[int] = mapped_column(Integer)
    room_id: Mapped[str] = mapped_column(String(255))
    root_event_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # claimed -> open (root posted) -> closed
    status: Mapped[str] = mapped_column(String(16), index=True)
    step: Mapped[int] = mapped_column(Integer, default=1)
    claimed_at: Mapped[datetime]
    posted_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class CasusContribution(Base):
    """One reply in a case thread, counted for its author's profession."""

    __tablename__ = "casus_contributions"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    run_id: Mapped[int] = mapped_column(_ID, index=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    profession: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class CasusInvitation(Base):
    """A member invited to bring their profession's view to a case (one per case)."""

    __tablename__ = "casus_invitations"
    __table_args__ = (UniqueConstraint("run_id", "user_id", name="uq_casus_invitations_run_user"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(_ID, index=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    profession: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    nudge_id: Mapped[int | None] = mapped_column(_ID)
    created_at: Mapped[datetime]


class CasusInviteOptOut(Base):
    """A member who asked not to be invited to cases any more."""

    __tablename__ = "casus_invite_optouts"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime]


class CasusIntroHint(Base):
    """That a member without a profile was invited to ``!intro`` once, by a keyed hash
    of their id (the promise "once, ever" outlives an erasure without naming them)."""

    __tablename__ = "casus_intro_hints"

    marker: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[datetime]


class CasusSubmission(Base):
    """A case a member brought in; waits for a moderator, then joins the rotation."""

    __tablename__ = "casus_submissions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    # None once the submitter asked to be forgotten (an approved case stays in the library).
    user_id: Mapped[str | None] = mapped_column(String(255), index=True)
    theme: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8))
    # pending -> approved | rejected
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
