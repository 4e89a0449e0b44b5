"""Who was invited to add their profession's view to a case, who opted out of that, and
the one-time ``!intro`` hint; every method is one transaction. Part of
:class:`commands.casus.store.CasusStore`."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.storage import Database, keyvalue
from commands.casus.models import CasusIntroHint, CasusInvitation, CasusInviteOptOut

_HINT_SECRET_KEY = "casus.hint_secret"


class InvitationRows:
    _db: Database
    _clock: Clock
    _hint_secret: bytes | None

    # -- invitations -------------------------------------------------------------------

    async def invited(self, run_id: int) -> set[str]:
        async with self._db.session() as session:
            rows = (
                await session.scalars(select(CasusInvitation.user_id).where(CasusInvitation.run_id == run_id))
            ).all()
        return set(rows)

    async def add_invitation(self, run_id: int, user_id: str, profession: str, step: int) -> bool:
        """Record an invitation before it is planned; False when the member was invited
        to this case already."""
        try:
            async with self._db.transaction() as session:
                existing = await session.scalar(
                    select(CasusInvitation.id).where(
                        CasusInvitation.run_id == run_id, CasusInvitation.user_id == user_id
                    )
                )
                if existing is not None:
                    return False
                session.add(
                    CasusInvitation(
                        run_id=run_id,
                        user_id=user_id,
                        profession=profession,
                        step=step,
                        nudge_id=None,
                        created_at=self._clock.now(),
                    )
                )
        except IntegrityError:
            return False
        return True

    async def set_invitation_nudge(self, run_id: int, user_id: str, nudge_id: int | None) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(CasusInvitation)
                .where(CasusInvitation.run_id == run_id, CasusInvitation.user_id == user_id)
                .values(nudge_id=nudge_id)
                .execution_options(synchronize_session=False)
            )

    async def opted_out(self) -> set[str]:
        async with self._db.session() as session:
            return set((await session.scalars(select(CasusInviteOptOut.user_id))).all())

    async def set_invitations(self, user_id: str, wanted: bool) -> None:
        async with self._db.transaction() as session:
            row = await session.get(CasusInviteOptOut, user_id)
            if wanted and row is not None:
                await session.delete(row)
            elif not wanted and row is None:
                session.add(CasusInviteOptOut(user_id=user_id, created_at=self._clock.now()))

    # -- the one-time !intro hint --------------------------------------------------------

    async def _marker(self, user_id: str) -> str:
        if self._hint_secret is None:
            stored = (await keyvalue.load(self._db, _HINT_SECRET_KEY)).get(_HINT_SECRET_KEY)
            if stored is None:
                await keyvalue.save(self._db, {_HINT_SECRET_KEY: secrets.token_hex(32)})
                stored = (await keyvalue.load(self._db, _HINT_SECRET_KEY))[_HINT_SECRET_KEY]
            self._hint_secret = bytes.fromhex(stored)
        return hmac.new(self._hint_secret, user_id.encode(), hashlib.sha256).hexdigest()

    async def claim_intro_hint(self, user_id: str) -> str | None:
        """The member's marker when this call is the first to claim their hint, else None."""
        marker = await self._marker(user_id)
        try:
            async with self._db.transaction() as session:
                if await session.get(CasusIntroHint, marker) is not None:
                    return None
                session.add(CasusIntroHint(marker=marker, sent_at=self._clock.now()))
        except IntegrityError:
            return None
        return marker
