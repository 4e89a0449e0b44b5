"""The router: from an incoming event to a command, a conversation step or a listener.

It is where errors become replies: member mistakes (``UserError``) raised by a command,
a conversation step or a listener become their catalogue text (rendered by
:func:`bot.replies.error_reply`, the one renderer); a listener's error goes to the
sender's DM, since there is no command to answer. Anything unexpected is logged with its
traceback and the member gets a friendly message, never the exception text.

Before a command is read, invisible characters (zero-width, bidi controls) are removed
from the message and command words are compared in NFKC form (:mod:`bot.textnorm`).
Commands and conversation answers pass flood control (:mod:`bot.flood`); plain room
chat goes to the listeners and costs nothing.

A command arrives in one of three forms, all through the same checks and converters:
typed after the prefix (``!intro``), typed after a slash (``/intro``, when the first
words name a command: clients such as Element send ``//intro`` as ``/intro``), or as
data from a client that read the command descriptions (MSC4391,
:mod:`bot.command_schema`), when the message mentions the bot.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from bot.command_schema import bind_structured
from bot.context import Context
from bot.converters import ConversionContext, bind_arguments, tokenize
from bot.errors import BadArgument, CommandNotFound, UserError
from bot.flood import FloodLimiter, Verdict
from bot.registry import Command, normalise_name
from bot.replies import error_reply
from bot.services import Services
from bot.storage.database import database_unavailable
from bot.textnorm import SLASH_PREFIX, after_prefix, command_form, strip_invisible
from bot.transport import (
    IncomingEvent,
    IncomingMessage,
    IncomingReaction,
    OutgoingMessage,
    PollEnded,
    PollVote,
    StructuredCommand,
    Undecryptable,
    VerificationNotice,
)

log = logging.getLogger(__name__)

#: ``m.room_key.withheld`` codes by which a member's client refuses the bot a room key
#: because it does not trust the bot's device (the member can change that).
REFUSED_CODES = frozenset({"m.unverified", "m.blacklisted", "m.unauthorised"})

_MAX_COMMAND_WORDS = 4
GLOBAL_FLOOD_FACTOR = 10
GLOBAL_BUCKET = "*"  # the global bucket's name; no user id looks like it


class Router:
    def __init__(self, services: Services, flood: FloodLimiter | None = None) -> None:
        self.services = services
        self.registry = services.registry
        self.flood = flood or FloodLimiter(
            services.clock,
            capacity=services.config.flood.burst,
            refill_seconds=services.config.flood.seconds_per_command,
        )
        # All members together: many accounts each under their own limit must not keep
        # the bot busy either. Ten times a member's burst, refilled ten times as fast.
        self.global_flood = FloodLimiter(
            services.clock,
            capacity=services.config.flood.burst * GLOBAL_FLOOD_FACTOR,
            refill_seconds=services.config.flood.seconds_per_command / GLOBAL_FLOOD_FACTOR,
        )
        # Commands sent while the bot was down arrive all at once after a restart; they
        # are the backlog the bot owes its members, not a flood. The transport says which
        # events came in that catch-up; a sender's timestamp alone proves nothing.
        self.started_at = services.clock.now()

    async def dispatch(self, event: IncomingEvent) -> None:
        """Entry point for the transport: one event, handled completely or logged."""
        if isinstance(event, IncomingMessage):
            await self.on_message(event)
            return
        if isinstance(event, Undecryptable):
            await self.on_undecryptable(event)
            return
        if isinstance(event, VerificationNotice):
            await self.on_verification(event)
            return
        if isinstance(event, PollVote | PollEnded):
            await self.on_poll_event(event)
            return
        if isinstance(event, IncomingReaction) and self._flood_verdict(event) is not Verdict.ALLOW:
            # Reactions toggle cards and send confirmations: limited like commands,
            # silently (a reaction has nothing to reply to).
            log.debug("flood control: dropped reaction %s", event.event_id)
            return
        for handler in self.registry.listeners_for(event):
            await self._run_listener(handler, event)

    async def on_poll_event(self, event: PollVote | PollEnded) -> None:
        """A member answered one of the bot's polls in their client (or a moderator ended
        one): the same record as ``!stem``, through the poll service."""
        polls = self.services.polls
        poll = await polls.get(event.poll_event_id)
        own = self.services.transport.own_user_id
        if poll is None or poll.room_id != event.room_id or event.sender == own:
            return
        if isinstance(event, PollEnded):
            # Clients offer "end poll" to its creator only; a moderator's end is honoured.
            if not poll.ended and await self.services.roles.is_moderator(event.sender):
                await polls.end(poll, txn_id=f"kb.poll-end.{event.event_id}")
            return
        if self._flood_verdict(event) is not Verdict.ALLOW:
            log.debug("flood control: dropped poll response %s", event.event_id)
            return
        message = IncomingMessage(
            event_id=event.event_id,
            room_id=event.room_id,
            sender=event.sender,
            body="",
            timestamp=event.timestamp,
            is_direct=await self.services.transport.is_direct(event.room_id),
            backlog=event.backlog,
        )
        ctx = Context(self.services, message, await self.services.members.language_of(event.sender))
        try:
            await polls.vote(ctx, poll, event.answer_ids, event.timestamp)
        except UserError as error:
            await self.services.members.tell_error(event.sender, error, txn_id=f"kb.error.{event.event_id}")

    def _flood_verdict(self, event: IncomingMessage | IncomingReaction | PollVote) -> Verdict:
        if event.backlog and event.timestamp < self.started_at:
            return Verdict.ALLOW
        verdict = self.flood.check(event.sender)
        if verdict is Verdict.ALLOW and self.global_flood.check(GLOBAL_BUCKET) is not Verdict.ALLOW:
            log.warning("flood control: the whole community is over its limit; dropping %s", event.event_id)
            return Verdict.DROP
        return verdict

    async def _run_listener(self, handler: Any, event: IncomingEvent) -> None:
        try:
            await handler(event)
        except UserError as error:
            # A reaction or a join answers no command: the member reads it in their DM.
            sender = getattr(event, "sender", None) or getattr(event, "user_id", None)
            if sender is not None:
                await self.services.members.tell_error(sender, error, txn_id=f"kb.error.{event.event_id}")
        except Exception as exc:
            if database_unavailable(exc):
                raise  # the sync loop waits for the database and hands the event over again
            log.exception(
                "listener %s failed on event %s", getattr(handler, "__qualname__", handler), event.event_id
            )

    def _in_scope(self, message: IncomingMessage) -> bool:
        return message.is_direct or self.services.rooms.is_known(message.room_id)

    async def on_message(self, message: IncomingMessage) -> None:
        if message.sender == self.services.transport.own_user_id or not self._in_scope(message):
            return
        visible = strip_invisible(message.body)
        body = visible.strip()
        structured = self._structured(message)
        command_text = None if structured is not None else self._command_text(body)
        if structured is None and command_text is None and not message.is_direct:
            for handler in self.registry.listeners_for(message):
                await self._run_listener(handler, message)
            return
        verdict = self._flood_verdict(message)
        if verdict is Verdict.DROP:
            log.debug("flood control: dropped event %s", message.event_id)
            return
        if visible != message.body:
            message = dataclasses.replace(message, body=visible)
        language = await self.services.members.language_of(message.sender)
        ctx = Context(self.services, message, language)
        if verdict is Verdict.NOTIFY:
            log.info("flood control: throttling the sender of event %s", message.event_id)
            await self._safe_reply(ctx, "core.error.slow_down")
            return
        try:
            if structured is not None:
                await self.invoke_structured(ctx, structured)
            elif command_text is not None:
                await self.invoke(ctx, command_text)
            elif not await self.services.conversations.handle(ctx):
                await self.invoke(ctx, body)
        except UserError as error:
            await self._reply_error(ctx, error)
        except Exception as exc:
            if database_unavailable(exc):
                raise  # not answered yet: the sync loop waits for the database and retries
            reference = uuid.uuid4().hex[:8]
            log.exception("command failed (reference %s, event %s)", reference, message.event_id)
            await self._safe_reply(ctx, "core.error.unexpected", reference=reference)

    def _structured(self, message: IncomingMessage) -> StructuredCommand | None:
        """The message's MSC4391 command, when it is addressed to the bot: it mentions the
        bot (as the MSC asks clients to do), or it is sent in the member's DM."""
        own = self.services.transport.own_user_id
        if message.command is not None and (message.is_direct or own in message.mentions):
            return message.command
        return None

    def _command_text(self, body: str) -> str | None:
        """The text after the command prefix; or after a slash, if it names a command
        (so a room message that merely starts with ``/`` stays chat)."""
        prefix = self.services.config.community.command_prefix
        text = after_prefix(body, prefix)
        if text is None and prefix != SLASH_PREFIX:
            slashed = after_prefix(body, SLASH_PREFIX)
            if slashed is not None and self._names_command(slashed):
                return slashed
        return text

    def _names_command(self, text: str) -> bool:
        leading = itertools.takewhile(lambda t: not t.quoted, tokenize(text)[:_MAX_COMMAND_WORDS])
        words = [command_form(t.text) for t in leading]
        return bool(words) and self.registry.resolve(words) is not None

    def _conversion(self) -> ConversionContext:
        return ConversionContext(
            today=self.services.clock.now().date(),
            server_name=self.services.transport.server_name,
            catalogue=self.services.catalogue,
        )

    async def invoke_structured(self, ctx: Context, structured: StructuredCommand) -> None:
        """Run a command a client sent as data: found by its exact name (or alias), then the
        same checks as typed, and every argument through the parameter's converter."""
        name = normalise_name(command_form(structured.command))
        command = self.registry.get(name)
        if command is None:
            nearest = self.registry.suggest(name.split())
            raise CommandNotFound(name[:40], nearest.display_name(ctx.language) if nearest else None)
        params, arguments = command.params, structured.arguments
        await self._run(ctx, command, name, lambda conversion: bind_structured(params, arguments, conversion))

    async def invoke(self, ctx: Context, text: str) -> None:
        """Resolve, check, convert and run one command."""
        tokens = tokenize(text)
        # A command's name is the leading unquoted words, compared in their NFKC form.
        leading = itertools.takewhile(lambda t: not t.quoted, tokens[:_MAX_COMMAND_WORDS])
        words = [command_form(t.text) for t in leading]
        if not words:
            raise UserError("core.error.empty_command")
        resolved = self.registry.resolve(words)
        if resolved is None:
            nearest = self.registry.suggest(words)
            raise CommandNotFound(words[0][:40], nearest.display_name(ctx.language) if nearest else None)
        command, used = resolved
        rest = text[tokens[used - 1].end :] if used else text

        def bind(conversion: ConversionContext) -> dict[str, Any]:
            kwargs, leftover = bind_arguments(command.params, rest, conversion)
            if leftover:
                raise BadArgument("core.error.too_many_arguments", extra=" ".join(leftover)[:80])
            return kwargs

        await self._run(ctx, command, " ".join(words[:used]).lower(), bind)

    async def _run(
        self,
        ctx: Context,
        command: Command,
        invoked_with: str,
        bind: Callable[[ConversionContext], dict[str, Any]],
    ) -> None:
        """The one way a command runs, typed or structured: its checks, then its arguments
        converted, then the command."""
        ctx.command = command
        ctx.invoked_with = invoked_with
        for predicate in command.checks:
            await predicate(ctx)
        await command.callback(ctx, **bind(self._conversion()))

    async def _reply_error(self, ctx: Context, error: UserError) -> None:
        rendered = error_reply(
            self.services.catalogue,
            ctx.language,
            error,
            command=ctx.command,
            prefix=self.services.config.community.command_prefix,
        )
        try:
            await ctx.reply_rendered(rendered)
        except Exception:
            log.exception("could not send an error reply for event %s", ctx.message.event_id)

    async def _safe_reply(self, ctx: Context, key: str, /, **params: Any) -> None:
        try:
            await ctx.reply(key, **params)
        except Exception:
            log.exception("could not send an error reply for event %s", ctx.message.event_id)

    async def on_verification(self, event: VerificationNotice) -> None:
        """A member verifies the bot in their DM: tell them what happens, in their language."""
        language = await self.services.members.language_of(event.sender)
        rendered = self.services.catalogue.render(language, f"core.encryption.verification_{event.stage}")
        await self.services.transport.send(
            OutgoingMessage(
                room_id=event.room_id,
                plain=rendered.plain,
                html=rendered.html,
                txn_id=f"kb.verification.{event.stage}.{event.event_id}",
            )
        )

    async def on_undecryptable(self, event: Undecryptable) -> None:
        """The transport could not read a member's message: say so, as a reply to it, in
        their language (in a room they are mentioned, so they notice)."""
        language = await self.services.members.language_of(event.sender)
        # A client that refuses the bot the key is told how to change that; other codes
        # (m.unavailable, m.no_olm) get the usual notice, at once.
        kind = "withheld" if event.withheld in REFUSED_CODES else "undecryptable"
        key = f"core.encryption.{kind}_direct" if event.is_direct else f"core.encryption.{kind}"
        rendered = self.services.catalogue.render(language, key)
        await self.services.transport.send(
            OutgoingMessage(
                room_id=event.room_id,
                plain=rendered.plain,
                html=rendered.html,
                reply_to=event.event_id,
                mentions=() if event.is_direct else (event.sender,),
                txn_id=f"kb.undecryptable.{event.event_id}",
                # An app that withholds its keys from the bot's device will not decrypt
                # what that device sends either (Element's "exclude insecure devices"):
                # this fixed text goes unencrypted, so the member can read it.
                in_the_clear=kind == "withheld",
            )
        )
