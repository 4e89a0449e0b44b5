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
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from nio import (
    AsyncClient,
    ErrorResponse,
    MessageDirection,
    RoomGetEventError,
    RoomGetEventResponse,
    RoomMessagesResponse,
    SyncResponse,
)
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Config
from bot.errors import InvalidCredentials, TransportError
from bot.ids import EventId, RoomId, UserId
from bot.matrix import events, state
from bot.matrix.crypto import Crypto, Undecrypted
from bot.matrix.homeserver_calls import (
    TRANSIENT_EXCEPTIONS,
    Backoff,
    describe,
    is_credentials_error,
    is_rate_limited,
    request,
    retry_after_s,
)
from bot.matrix.rooms import RoomManager
from bot.room_directory import RoomDirectory
from bot.storage.database import Database
from bot.storage.models import ProcessedEvent, SeenReaction
from bot.transport import EventHandler, IncomingEvent, IncomingMessage, IncomingReaction, Undecryptable

log = logging.getLogger(__name__)

#: What :meth:`SyncLoop._next_batch` returns after pausing for a passing failure.
_RETRY = object()

#: Backoff after a failed sync: 0.5 s doubling to ``matrix.max_retry_wait_s`` (3 s).
INITIAL_BACKOFF_S = 0.5
WATCHDOG_MARGIN_S = 15.0
MAX_EVENT_ATTEMPTS = 3
#: Gap filling: pages of this many events, at most this many pages per room per batch.
GAP_PAGE_SIZE = 100
GAP_MAX_PAGES = 10
#: Gap filling stops at events this much older than the last checkpoint (clock skew).
GAP_MARGIN = timedelta(minutes=5)
#: A batch that fails this often in a row (not counting handler errors) is skipped.
MAX_BATCH_FAILURES = 5
#: Processed-event rows older than this are deleted at start (and daily, bot/retention.py).
PROCESSED_RETENTION = timedelta(days=30)
RECENT_IN_MEMORY = 20_000
TOKEN_ONLY_CHECKPOINT_INTERVAL = timedelta(seconds=5)
CHECKPOINT_DELAY_S = 0.25


class _Outcome(NamedTuple):
    room_id: RoomId
    origin_ts: datetime
    status: str


class SyncLoop:
    """Runs until :meth:`request_stop`; raises :class:`InvalidCredentials` on a dead token."""

    def __init__(
        self,
        client: AsyncClient,
        config: Config,
        db: Database,
        clock: Clock,
        rooms: RoomManager,
        directory: RoomDirectory,
        crypto: Crypto | None = None,
    ) -> None:
        self._client = client
        self._crypto = crypto
        self._config = config
        self._db = db
        self._clock = clock
        self._rooms = rooms
        self._directory = directory
        self._own = UserId(config.matrix.user_id)
        self.last_sync_ok: datetime | None = None
        self.synced = asyncio.Event()
        self._stop = asyncio.Event()
        self._first_start: datetime | None = None
        self._checkpoint_at: datetime | None = None
        # Events handled since the last checkpoint, and (bounded) those handled before
        # it in this run; dicts keep insertion order, so the oldest are dropped first.
        self._outcomes: dict[str, _Outcome] = {}
        self._recent: dict[str, _Outcome] = {}
        self._completed_token: str | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        # Whose events reactions point at: the bot's own (seen in the timeline, or
        # asked of the homeserver once) or someone else's. Bounded like ``_recent``.
        self._event_is_own: dict[str, bool] = {}

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
        backoff = Backoff(INITIAL_BACKOFF_S, self._config.matrix.max_retry_wait_s)
        # Resuming from a token: ask once for the full state so nio's room cache (power
        # levels, names) is complete; Synapse answers such a sync at once.
        full_state = token is not None
        failures = 0
        try:
            while not self._stop.is_set():
                resp = await self._next_batch(token, full_state, backoff)
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
                full_state = False
                backoff.reset()
        finally:
            await self._final_checkpoint()

    async def _resume(self) -> str | None:
        """Load where the last run stopped; the sync token to resume from (None: fresh)."""
        stored = await state.load(self._db, state.NEXT_BATCH, state.CHECKPOINT_AT, state.FIRST_START)
        token = stored.get(state.NEXT_BATCH)
        self._completed_token = token
        self._first_start = await self.record_first_start()
        self._checkpoint_at = state.decode_time(stored.get(state.CHECKPOINT_AT))
        await self._prune_processed()
        return token

    async def _next_batch(self, token: str | None, full_state: bool, backoff: Backoff) -> object:
        """The next ``SyncResponse``; ``_RETRY`` after a pause for a passing failure, None
        when a stop was requested. A rejected token raises :class:`InvalidCredentials`."""
        try:
            resp = await self._fetch(token, full_state)
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
            complete = await self._process(resp, handler)
            if complete:
                await self._retry_undecrypted(handler)
            return complete, failures
        except InvalidCredentials:
            raise
        except Exception as exc:
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
        self._completed_token = token
        if self._outcomes or self._token_is_stale():
            self._checkpoint_soon()
        self.last_sync_ok = self._clock.now()
        self.synced.set()

    async def _final_checkpoint(self) -> None:
        # Statuses of handled events, and the token of the last complete batch, are
        # written even when the loop ends early.
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._checkpoint_task
        with contextlib.suppress(Exception):
            await self._checkpoint(self._completed_token)

    async def _fetch(self, token: str | None, full_state: bool) -> Any:
        """One ``/sync``; None when a stop was requested while waiting."""
        matrix = self._config.matrix
        timeout_ms = matrix.sync_timeout_ms
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
                full_state=True if full_state else None,
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

    def _token_is_stale(self) -> bool:
        """A batch without handled events (the bot's own replies, typing) only moves the
        token; saving that at most every few seconds halves the writes per command. A
        token not saved is harmless: the events after it are recognised as handled."""
        return self._checkpoint_at is None or (
            self._clock.now() - self._checkpoint_at >= TOKEN_ONLY_CHECKPOINT_INTERVAL
        )

    def _checkpoint_soon(self) -> None:
        """Write a checkpoint shortly, off the path of the next reply.

        Writing right after every batch put a transaction between each answer and the
        next long-poll, on a machine the homeserver shares; a short delay batches the
        writes of a busy moment into one. A crash in the delay loses nothing: events
        claimed as started are handled again and their replies are recognised as sent.
        """
        if self._checkpoint_task is None or self._checkpoint_task.done():
            self._checkpoint_task = asyncio.create_task(self._delayed_checkpoint(), name="sync-checkpoint")

    async def _delayed_checkpoint(self) -> None:
        await asyncio.sleep(CHECKPOINT_DELAY_S)
        try:
            await self._checkpoint(self._completed_token)
        except Exception:
            log.warning("checkpoint failed; it is retried after the next batch", exc_info=True)

    async def _checkpoint(self, token: str | None) -> None:
        """Store the token (if given) and the statuses of the events handled since the last one.

        Only finished events are written; one still being handled keeps its claim.
        """
        now = self._clock.now()
        values = {state.NEXT_BATCH: token, state.CHECKPOINT_AT: state.encode_time(now)} if token else {}
        finished = {k: v for k, v in self._outcomes.items() if v.status != "started"}
        if not values and not finished:
            return
        for event_id in finished:  # taken out before awaiting: the loop may add more
            del self._outcomes[event_id]
        try:
            async with self._db.transaction() as session:
                await state.save_in(session, values)
                await self._write_outcomes(session, finished)
        except BaseException:
            self._outcomes.update(finished)
            raise
        self._recent.update(finished)
        if len(self._recent) > RECENT_IN_MEMORY:
            # Keep the newest half; older ones are in the database for gap filling.
            for event_id in list(self._recent)[: len(self._recent) // 2]:
                del self._recent[event_id]
        if token:
            self._checkpoint_at = now

    # ------------------------------------------------------------------- batches

    async def _process(self, resp: SyncResponse, handler: EventHandler) -> bool:
        """Handle one batch; False when a stop interrupted it."""
        for room_id, invite in resp.rooms.invite.items():
            try:
                await self._rooms.handle_invite(RoomId(room_id), invite.invite_state)
            except TransportError as exc:
                log.warning("invite to %s not handled: %s", room_id, exc)

        # Every room's state first: a handler may send to a DM whose membership changed in this batch.
        for room_id_str, info in resp.rooms.join.items():
            self._rooms.note_room_events(RoomId(room_id_str), _sources([*info.state, *info.timeline.events]))
        for room_id_str, info in resp.rooms.join.items():
            room_id = RoomId(room_id_str)
            timeline = _sources(info.timeline.events)
            if not self._rooms.acts_in(room_id):
                continue
            start = events.history_start(timeline, self._own)
            batch = timeline[start:]
            if info.timeline.limited and start == 0 and info.timeline.prev_batch:
                batch = [*await self._fill_gap(room_id, info.timeline.prev_batch), *batch]
            for source in batch:
                if self._stop.is_set():
                    return False
                await self._handle(room_id, source, handler)

        for room_id in resp.rooms.leave:
            log.info("the bot is no longer in %s", room_id)
            self._rooms.forget(RoomId(room_id))
        return True

    def _cutoff(self) -> datetime:
        """Events older than this are history: before the first start or the catch-up window."""
        assert self._first_start is not None
        cutoff = self._first_start
        hours = self._config.community.catch_up_hours
        if hours > 0:
            cutoff = max(cutoff, self._clock.now() - timedelta(hours=hours))
        return cutoff

    async def _fill_gap(self, room_id: RoomId, prev_batch: str) -> list[Mapping[str, Any]]:
        """Events between the last batch we saw and a ``limited`` timeline, oldest first.

        Walks ``/messages`` backwards from ``prev_batch`` until an event that was already
        processed, an event older than the last checkpoint (or the catch-up window), the
        bot's own arrival in the room, or ``GAP_MAX_PAGES`` pages.
        """
        floor = self._cutoff()
        if self._checkpoint_at is not None:
            floor = max(floor, self._checkpoint_at - GAP_MARGIN)
        collected: list[Mapping[str, Any]] = []
        token = prev_batch
        reached = False
        for _page in range(GAP_MAX_PAGES):
            resp = await request(
                partial(
                    self._client.room_messages,
                    room_id,
                    start=token,
                    direction=MessageDirection.back,
                    limit=GAP_PAGE_SIZE,
                ),
                f"filling the timeline gap in {room_id}",
            )
            if not isinstance(resp, RoomMessagesResponse):
                raise TransportError(f"filling the timeline gap in {room_id} failed")
            chunk = _sources(resp.chunk)  # newest first
            seen = await self._processed_ids([s.get("event_id") for s in chunk])
            for source in chunk:
                moment = events.timestamp_of(source.get("origin_server_ts"))
                if (
                    source.get("event_id") in seen
                    or events.is_own_arrival(source, self._own)
                    or (moment is not None and moment < floor)
                ):
                    reached = True
                    break
                collected.append(source)
            if reached or not chunk or not resp.end or resp.end == token:
                reached = True
                break
            token = resp.end
        if not reached:
            log.warning(
                "the gap in %s is longer than %d events; older events were skipped", room_id, len(collected)
            )
        collected.reverse()
        log.info("filled a timeline gap of %d events in %s", len(collected), room_id)
        return collected

    # -------------------------------------------------------------------- events

    async def _handle(self, room_id: RoomId, source: Mapping[str, Any], handler: EventHandler) -> None:
        ev = events.basics(source)
        if ev is not None:
            self._note_sender(ev.event_id, own=ev.sender == self._own)
        if ev is None or ev.sender == self._own or ev.timestamp < self._cutoff():
            return
        direct = self._rooms.is_direct_cached(room_id)
        if direct and not self._rooms.allowed_user(ev.sender):
            return
        incoming: IncomingEvent | None = None
        new_reaction: IncomingReaction | None = None
        if ev.type == "m.room.encrypted":
            await self._undecryptable(room_id, source, ev, handler)
            return
        if ev.type == "m.room.message":
            incoming = events.to_message(room_id, ev, direct)
        elif ev.type == "m.reaction":
            incoming = new_reaction = events.to_reaction(room_id, ev)
        elif ev.type == "m.room.redaction":
            removal = events.to_redaction(source, ev)
            if removal is not None:
                incoming = await self._withdrawn_reaction(room_id, removal)
        elif ev.type == "m.room.member" and not direct and self._directory.is_known(room_id):
            incoming = events.to_member_joined(room_id, source, ev)
        if incoming is None:
            return
        if not self.synced.is_set() and isinstance(incoming, IncomingMessage | IncomingReaction):
            # The first batch of this run: what arrived while the bot was away.
            incoming = dataclasses.replace(incoming, backlog=True)
        if not await self._begin(room_id, ev, new_reaction):
            return
        status = "done"
        try:
            await handler(incoming)
        except Exception:
            status = "failed"
            log.exception("handling %s %s in %s failed", ev.type, ev.event_id, room_id)
        self._outcomes[ev.event_id] = self._outcomes[ev.event_id]._replace(status=status)

    # ------------------------------------------------------------ undecryptable

    async def _undecryptable(
        self, room_id: RoomId, source: Mapping[str, Any], ev: events.EventBasics, handler: EventHandler
    ) -> None:
        """nio could not decrypt this event: keep it, ask for its key, retry after each batch."""
        if self._crypto is None or not self._crypto.enabled:
            return
        if ev.event_id in self._outcomes or ev.event_id in self._recent:
            return
        if await self._processed_ids([ev.event_id]):
            return
        item = self._crypto.undecrypted(room_id, source, self._clock.now())
        if item is None or not self._crypto.pending.add(item):
            return
        log.info("cannot decrypt %s in %s yet (session %s)", ev.event_id, room_id, item.session_id)
        await self._crypto.request_key(item)
        for old in self._crypto.pending.overflow():
            await self._give_up(old, handler)
        await self._crypto.pending.save()

    async def _retry_undecrypted(self, handler: EventHandler) -> None:
        """Handle waiting events whose keys arrived; explain the ones that waited too long.

        An entry leaves the durable list only after it was handled, so a crash in between
        retries it, and the claim in ``core_processed_events`` keeps it exactly-once.
        """
        if self._crypto is None or not self._crypto.pending.items:
            return
        pending = self._crypto.pending
        now = self._clock.now()
        for item in list(pending.items.values()):
            if self._stop.is_set():
                break
            decrypted = self._crypto.try_decrypt(item)
            if decrypted is not None:
                log.info("decrypted %s after its room key arrived", item.event_id)
                await self._handle(RoomId(item.room_id), decrypted, handler)
                pending.remove(item.event_id)
            elif pending.expired(item, now):
                await self._give_up(item, handler)
        await pending.save()

    async def _give_up(self, item: Undecrypted, handler: EventHandler) -> None:
        """Claim an event that stayed unreadable and let the core tell its sender, once
        per session (the adapter reports; what the member reads is the core's)."""
        assert self._crypto is not None
        self._crypto.pending.remove(item.event_id)
        ev = events.basics(item.source)
        if ev is None or not await self._begin(RoomId(item.room_id), ev, None):
            return
        log.warning("could not decrypt %s in %s; telling the sender", ev.event_id, item.room_id)
        status = "done"
        try:
            if self._crypto.pending.first_notice(item):
                room_id = RoomId(item.room_id)
                await handler(
                    Undecryptable(
                        event_id=ev.event_id,
                        room_id=room_id,
                        sender=ev.sender,
                        timestamp=ev.timestamp,
                        is_direct=self._rooms.is_direct_cached(room_id),
                    )
                )
        except Exception:
            status = "failed"
            log.exception("telling the sender of %s that it was unreadable failed", ev.event_id)
        self._outcomes[ev.event_id] = self._outcomes[ev.event_id]._replace(status=status)
        self._checkpoint_soon()

    async def _withdrawn_reaction(
        self, room_id: RoomId, removal: events.ReactionRemoval
    ) -> IncomingReaction | None:
        async with self._db.session() as session:
            seen = await session.get(SeenReaction, removal.redacts)
        if seen is None or seen.room_id != room_id:
            return None
        return IncomingReaction(
            event_id=removal.event_id,
            room_id=room_id,
            sender=UserId(seen.sender),
            target_event_id=EventId(seen.target_event_id),
            key=seen.key,
            timestamp=removal.timestamp,
            removed=True,
        )

    async def _begin(
        self, room_id: RoomId, ev: events.EventBasics, reaction: IncomingReaction | None
    ) -> bool:
        """Claim the event durably before handling it; False when it was claimed before.

        One ``INSERT … ON CONFLICT DO NOTHING`` on a plain connection (no ORM session):
        the only write on the path from a command to its reply. The final status
        (done | failed) follows in the checkpoint's transaction.
        """
        if ev.event_id in self._outcomes or ev.event_id in self._recent:
            return False
        claimed = await self._db.execute_one(
            self._db.insert(ProcessedEvent)
            .values(
                event_id=ev.event_id,
                room_id=room_id,
                status="started",
                received_at=self._clock.now(),
                origin_ts=ev.timestamp,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        if getattr(claimed, "rowcount", 0) != 1 and not await self._resume_interrupted(ev.event_id):
            return False
        self._outcomes[ev.event_id] = _Outcome(room_id, ev.timestamp, "started")
        if reaction is not None and await self._targets_own_event(room_id, reaction.target_event_id):
            await self._remember_reaction(room_id, reaction)
        return True

    async def _resume_interrupted(self, event_id: str) -> bool:
        """True when an earlier run began handling the event and died before finishing.

        Such an event is handled again (its replies carry the same transaction ids, so
        what was already sent is not sent twice), at most ``MAX_EVENT_ATTEMPTS`` times:
        an event that kills the bot every time must not keep it from starting.
        """
        resumed = await self._db.execute_one(
            update(ProcessedEvent)
            .where(
                ProcessedEvent.event_id == event_id,
                ProcessedEvent.status == "started",
                ProcessedEvent.attempts < MAX_EVENT_ATTEMPTS,
            )
            .values(attempts=ProcessedEvent.attempts + 1)
        )
        if getattr(resumed, "rowcount", 0) == 1:
            log.info("handling %s again: an earlier run was interrupted while handling it", event_id)
            return True
        gave_up = await self._db.execute_one(
            update(ProcessedEvent)
            .where(ProcessedEvent.event_id == event_id, ProcessedEvent.status == "started")
            .values(status="failed")
        )
        if getattr(gave_up, "rowcount", 0):
            log.error("giving up on %s after %d interrupted attempts", event_id, MAX_EVENT_ATTEMPTS)
        return False

    def _note_sender(self, event_id: str, *, own: bool) -> None:
        self._event_is_own[event_id] = own
        if len(self._event_is_own) > RECENT_IN_MEMORY:
            del self._event_is_own[next(iter(self._event_is_own))]

    async def _targets_own_event(self, room_id: RoomId, target: EventId) -> bool:
        """Whether a reaction is on an event the bot sent (a card, a post, a reply).

        Only those can matter to a feature, so only those are remembered for a later
        withdrawal. The bot's events seen in the timeline of this run are known; for
        another target the homeserver is asked once (a card may be months old). When
        it cannot say, the reaction is kept: a stored row costs less than a lost
        withdrawal.
        """
        known = self._event_is_own.get(target)
        if known is not None:
            return known
        try:
            resp = await self._client.room_get_event(room_id, target)
        except Exception:
            log.warning("could not look up a reaction's target in %s; keeping it", room_id, exc_info=True)
            return True
        if isinstance(resp, RoomGetEventResponse):
            source = getattr(resp.event, "source", None)
            own = isinstance(source, dict) and source.get("sender") == self._own
        elif isinstance(resp, RoomGetEventError) and resp.status_code in ("M_NOT_FOUND", "M_FORBIDDEN"):
            own = False  # gone, or never visible to the bot: nothing of ours
        else:
            log.warning("could not look up a reaction's target in %s (%s); keeping it", room_id, resp)
            return True
        self._note_sender(target, own=own)
        return own

    async def _remember_reaction(self, room_id: RoomId, reaction: IncomingReaction) -> None:
        """Keep a reaction's key and target: its later redaction carries neither."""
        async with self._db.transaction() as session:
            await session.execute(
                self._db.insert(SeenReaction)
                .values(
                    event_id=reaction.event_id,
                    room_id=room_id,
                    sender=reaction.sender,
                    target_event_id=reaction.target_event_id,
                    key=reaction.key,
                    seen_at=self._clock.now(),
                )
                .on_conflict_do_nothing(index_elements=["event_id"])
            )

    async def _write_outcomes(self, session: AsyncSession, outcomes: dict[str, _Outcome]) -> None:
        """Record handled events (done | failed) in the checkpoint's transaction."""
        if not outcomes:
            return
        now = self._clock.now()
        rows = [
            {
                "event_id": event_id,
                "room_id": outcome.room_id,
                "status": outcome.status,
                "received_at": now,
                "origin_ts": outcome.origin_ts,
            }
            for event_id, outcome in outcomes.items()
        ]
        statement = self._db.insert(ProcessedEvent).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["event_id"], set_={"status": statement.excluded.status}
            )
        )

    async def _processed_ids(self, event_ids: Sequence[Any]) -> set[str]:
        ids = [e for e in event_ids if isinstance(e, str)]
        if not ids:
            return set()
        known = {e for e in ids if e in self._recent or e in self._outcomes}
        async with self._db.session() as session:
            rows = await session.execute(
                select(ProcessedEvent.event_id).where(ProcessedEvent.event_id.in_(ids))
            )
            return known | set(rows.scalars())

    async def _prune_processed(self) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                delete(ProcessedEvent).where(
                    ProcessedEvent.received_at < self._clock.now() - PROCESSED_RETENTION
                )
            )


def _sources(nio_events: Sequence[Any]) -> list[Mapping[str, Any]]:
    """The raw JSON of nio's parsed events (room events keep their full source)."""
    return [e.source for e in nio_events if isinstance(getattr(e, "source", None), dict)]
