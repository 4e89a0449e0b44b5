"""The sync loop: long-poll, translate, hand to the core, checkpoint, and never lose a gap.

Why not ``sync_forever``: nio saves the sync token *before* running callbacks, an
exception in a callback ends the loop, it polls in a tight loop on error responses and
its invite callback fires once per member event. So this loop iterates the
``SyncResponse`` itself, in this order per batch:

1. invites (one decision per room);
2. joined rooms: the bot's own arrival cuts off older history; a ``limited`` timeline
   is completed with ``/messages`` back to what was already seen; every event is
   handled once per run and recorded with the checkpoint (``core_processed_events``: done | failed);
3. only then ``next_batch`` is stored (with the time), so a crash mid-batch replays
   the batch and the processed-events table drops what was already handled.

Encrypted rooms: nio decrypts while parsing the sync (and ``/messages`` pages), so a
decrypted message reaches this loop as the ``m.room.message`` it was, under the event id
of the encrypted event: claims, checkpoints and replays work unchanged. Before a batch
is handled, keys are uploaded, queried and claimed (:meth:`Crypto.housekeeping`). An
event nio could not decrypt waits in :class:`~bot.matrix.crypto.PendingDecryptions`;
after every batch decryption is retried (keys arrive as to-device messages) and an
event still unreadable after ``matrix.undecryptable_wait_s`` is claimed like any
other and answered once with an explanation.

The handler is awaited per event, in timeline order per room, so order within a room
is kept. The consequence: a slow handler stalls the whole bot. Handlers must be
short; long work belongs in a task started by the core.

The parts: :mod:`~bot.matrix.sync.handling` (one event to the core),
:mod:`~bot.matrix.sync.checkpoint` (claims, statuses, the token),
:mod:`~bot.matrix.sync.gaps` (backlog catch-up), :mod:`~bot.matrix.sync.undecryptable`
(the wait for a key) and :mod:`~bot.matrix.sync.reactions` (reactions kept for their
withdrawal); :class:`SyncLoop` here is the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from nio import AsyncClient, ErrorResponse, SyncResponse

from bot.clock import Clock
from bot.config import Config
from bot.errors import InvalidCredentials, TransportError
from bot.ids import RoomId, UserId
from bot.matrix import events, state
from bot.matrix.crypto import Crypto
from bot.matrix.direct_chat_rooms import DirectChats
from bot.matrix.homeserver_calls import (
    TRANSIENT_EXCEPTIONS,
    Backoff,
    describe,
    is_credentials_error,
    is_rate_limited,
    retry_after_s,
)
from bot.matrix.rooms import RoomManager
from bot.matrix.sync.checkpoint import EventLedger
from bot.matrix.sync.gaps import GapFiller, raw_sources
from bot.matrix.sync.handling import EventHandling
from bot.matrix.sync.reactions import ReactionMemory
from bot.matrix.sync.undecryptable import UndecryptableWait
from bot.matrix.verification import InRoomVerification
from bot.room_directory import RoomDirectory
from bot.storage.database import Database, database_unavailable
from bot.transport import EventHandler

log = logging.getLogger(__name__)

#: The first sync of a run: a timeout of 1 ms, so Synapse answers at once (never 0:
#: nio would then send no timeout at all).
FIRST_SYNC_TIMEOUT_MS = 1
#: What :meth:`SyncLoop._next_batch` returns after pausing for a passing failure.
_RETRY = object()

#: Backoff after a failed sync: 0.5 s doubling to ``matrix.max_retry_wait_s`` (3 s).
INITIAL_BACKOFF_S = 0.5
WATCHDOG_MARGIN_S = 15.0
#: A batch that fails this often in a row (not counting handler errors) is skipped.
MAX_BATCH_FAILURES = 5


class SyncLoop:
    """Runs until :meth:`request_stop`; raises :class:`InvalidCredentials` on a dead token."""

    def __init__(
        self,
        client: AsyncClient,
        config: Config,
        db: Database,
        clock: Clock,
        rooms: RoomManager,
        direct: DirectChats,
        directory: RoomDirectory,
        crypto: Crypto | None = None,
        verifications: InRoomVerification | None = None,
    ) -> None:
        self._client = client
        self._crypto = crypto
        self._config = config
        self._db = db
        self._clock = clock
        self._rooms = rooms
        self._direct = direct
        self._own = UserId(config.matrix.user_id)
        self.last_sync_ok: datetime | None = None
        self.synced = asyncio.Event()
        self._stop = asyncio.Event()
        self._first_start: datetime | None = None
        self._catching_up = True
        self._ledger = EventLedger(db, clock)
        self._gaps = GapFiller(client, self._own, self._ledger, self._cutoff)
        self._waiting = UndecryptableWait(crypto, self._ledger, direct, clock, self._stop)
        self._events = EventHandling(
            self._own,
            direct,
            directory,
            self._ledger,
            ReactionMemory(client, db, clock, self._own),
            self._waiting,
            cutoff=self._cutoff,
            synced=self.synced,
            verifications=verifications,
        )

    # ------------------------------------------------------------------ control

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def sync_filter(self) -> dict[str, Any]:
        """A larger timeline than Synapse's 10, lazy-loaded members, no presence or typing.

        The very first sync is filtered like any other: what members sent before the
        bot's first start is history and dropped by the time cut-off, but a command sent
        while the bot was still setting up its rooms is answered.
        """
        return {
            "room": {
                "timeline": {"limit": self._config.matrix.timeline_limit},
                "state": {"lazy_load_members": True},
                "ephemeral": {"not_types": ["*"]},
            },
            "presence": {"not_types": ["*"]},
        }

    # --------------------------------------------------------------------- loop

    async def record_first_start(self) -> datetime:
        """The moment the bot first started on this database, recorded once.

        Recorded before login and room set-up: a member who joins a room the bot just
        created and speaks at once is not history.
        """
        stored = await state.load(self._db, state.FIRST_START)
        first = state.decode_time(stored.get(state.FIRST_START))
        if first is None:
            first = self._clock.now()
            await state.save(self._db, {state.FIRST_START: state.encode_time(first)})
            log.info("first start: history before now is ignored")
        return first

    async def run(self, handler: EventHandler) -> None:
        self._stop.clear()
        token = await self._resume()
        self._catching_up = True
        backoff = Backoff(INITIAL_BACKOFF_S, self._config.matrix.max_retry_wait_s)
        # Resuming from a token is an incremental sync, never the full state: with
        # thousands of DMs the full state made a restart nearly as slow as a fresh login
        # (every room's state parsed and validated by nio). Nothing needs it: a room nio
        # has not seen this run is read from the homeserver when it matters (its power
        # levels in RoomManager.power_level, its members and encryption before a send in
        # Crypto.prepare_send, which nio marks encrypted from its store), and recorded
        # DMs are known from the database.
        failures = 0
        try:
            while not self._stop.is_set():
                resp = await self._next_batch(token, backoff)
                if resp is _RETRY:
                    continue
                if not isinstance(resp, SyncResponse):
                    break  # a stop was requested while waiting
                complete, failures = await self._handle_batch(resp, handler, failures, backoff)
                if complete is None:
                    continue  # the batch failed and is fetched again
                if not complete:
                    break  # stopped mid-batch: the batch is replayed on the next start
                failures = 0
                token = resp.next_batch
                self._batch_completed(token)
                self._catching_up = False
                backoff.reset()
        finally:
            await self._ledger.final_checkpoint()

    async def _resume(self) -> str | None:
        """Load where the last run stopped; the sync token to resume from (None: fresh)."""
        self._first_start = await self.record_first_start()
        return await self._ledger.resume()

    async def _next_batch(self, token: str | None, backoff: Backoff) -> object:
        """The next ``SyncResponse``; ``_RETRY`` after a pause for a passing failure, None
        when a stop was requested. A rejected token raises :class:`InvalidCredentials`."""
        try:
            resp = await self._fetch(token)
        except TRANSIENT_EXCEPTIONS as exc:
            await self._pause(backoff.next(), type(exc).__name__)
            return _RETRY
        if resp is None:
            return None
        if isinstance(resp, ErrorResponse):
            if is_credentials_error(resp):
                raise InvalidCredentials(
                    f"the homeserver rejected the access token of {self._own} during sync ({describe(resp)})"
                )
            wait = backoff.next()
            if is_rate_limited(resp):
                wait = max(wait, retry_after_s(resp) or 0.0)
            await self._pause(wait, describe(resp))
            return _RETRY
        if not isinstance(resp, SyncResponse):
            await self._pause(backoff.next(), f"unexpected answer {type(resp).__name__}")
            return _RETRY
        return resp

    async def _handle_batch(
        self, resp: SyncResponse, handler: EventHandler, failures: int, backoff: Backoff
    ) -> tuple[bool | None, int]:
        """Handle one batch: (True when complete, False when stopped half-way, None when
        it failed and is to be fetched again; the failures counted so far).

        After ``MAX_BATCH_FAILURES`` the batch is skipped, so one poisonous event cannot
        stop the bot; each event in it was claimed or is replayed, as for a crash.
        """
        try:
            if self._crypto is not None:
                await self._crypto.housekeeping()
            self._waiting.note_withheld(getattr(resp, "to_device_events", ()))
            complete = await self._process(resp, handler)
            if complete:
                await self._waiting.retry(handler, self._events.handle)
            return complete, failures
        except InvalidCredentials:
            raise
        except Exception as exc:
            if database_unavailable(exc):  # an outage, not a bad batch: wait, then fetch it again
                await self._db.wait_until_reachable(self._stop)
                return None, failures
            failures += 1
            if failures < MAX_BATCH_FAILURES:
                log.warning(
                    "sync batch failed (%s: %s); retrying it",
                    type(exc).__name__,
                    exc,
                    exc_info=not isinstance(exc, TransportError),
                )
                await self._pause(backoff.next(), "batch failed")
                return None, failures
            log.error("sync batch failed %d times; skipping it", failures, exc_info=True)
            return True, failures

    def _batch_completed(self, token: str) -> None:
        self._ledger.batch_completed(token)
        self.last_sync_ok = self._clock.now()
        self.synced.set()

    async def _fetch(self, token: str | None) -> Any:
        """One ``/sync``; None when a stop was requested while waiting."""
        matrix = self._config.matrix
        # The first sync of a run answers at once: it only catches up. The full state
        # asked for on a resume used to make Synapse answer at once; an incremental sync
        # with the long-poll timeout would instead wait in a quiet community, and the
        # bot would not count as synced (nor start what waits for that) until then.
        timeout_ms = FIRST_SYNC_TIMEOUT_MS if self._catching_up else matrix.sync_timeout_ms
        if self._crypto is not None:
            # A message waiting for its key is explained on time, even in a quiet room.
            due = self._crypto.pending.seconds_to_next_deadline(self._clock.now())
            if due is not None:
                timeout_ms = int(min(timeout_ms, max(1000.0, due * 1000 + 100)))
        sync = asyncio.ensure_future(
            self._client.sync(
                timeout=timeout_ms,  # never 0: nio would then poll in a tight loop
                since=token,
                sync_filter=self.sync_filter(),
            )
        )
        stopper = asyncio.ensure_future(self._stop.wait())
        # The watchdog: a long-poll answers within its timeout; one that has not after
        # a margin more is hung (a paused homeserver keeps the connection open), so it
        # is dropped and the next attempt opens a fresh connection.
        limit = timeout_ms / 1000 + WATCHDOG_MARGIN_S
        try:
            done, _ = await asyncio.wait({sync, stopper}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not sync.done():
                sync.cancel()
                with contextlib.suppress(asyncio.CancelledError, *TRANSIENT_EXCEPTIONS):
                    await sync
        if sync in done and not sync.cancelled():
            return sync.result()
        if self._stop.is_set():
            return None
        log.warning("sync watchdog: no answer within %.0fs; restarting the sync", limit)
        raise TimeoutError("the homeserver did not answer the sync in time")

    async def _pause(self, seconds: float, reason: str) -> None:
        log.warning("sync failed (%s); retrying in %.1fs", reason, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    # ------------------------------------------------------------------- batches

    async def _process(self, resp: SyncResponse, handler: EventHandler) -> bool:
        """Handle one batch; False when a stop interrupted it."""
        for room_id, invite in resp.rooms.invite.items():
            try:
                await self._direct.handle_invite(RoomId(room_id), invite.invite_state)
            except TransportError as exc:
                log.warning("invite to %s not handled: %s", room_id, exc)

        # Every room's state first: a handler may send to a DM whose membership changed in this batch.
        for room_id_str, info in resp.rooms.join.items():
            state_and_timeline = raw_sources([*info.state, *info.timeline.events])
            self._rooms.note_room_events(RoomId(room_id_str), state_and_timeline)
            self._direct.note_room_events(RoomId(room_id_str), state_and_timeline)
        for room_id_str, info in resp.rooms.join.items():
            room_id = RoomId(room_id_str)
            timeline = raw_sources(info.timeline.events)
            if not self._direct.acts_in(room_id):
                continue
            start = events.history_start(timeline, self._own)
            batch = timeline[start:]
            if info.timeline.limited and start == 0 and info.timeline.prev_batch:
                batch = [*await self._gaps.fill(room_id, info.timeline.prev_batch), *batch]
            for source in batch:
                if self._stop.is_set():
                    return False
                await self._events.handle(room_id, source, handler)

        for room_id in resp.rooms.leave:
            log.info("the bot is no longer in %s", room_id)
            self._rooms.forget(RoomId(room_id))
            self._direct.forget(RoomId(room_id))
        return True

    def _cutoff(self) -> datetime:
        """Events older than this are history: before the first start or the catch-up window."""
        assert self._first_start is not None
        cutoff = self._first_start
        hours = self._config.community.catch_up_hours
        if hours > 0:
            cutoff = max(cutoff, self._clock.now() - timedelta(hours=hours))
        return cutoff
