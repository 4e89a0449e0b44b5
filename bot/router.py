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
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import uuid
from typing import Any

from bot.context import Context
from bot.converters import ConversionContext, bind_arguments, tokenize
from bot.errors import BadArgument, CommandNotFound, UserError
from bot.flood import FloodLimiter, Verdict
from bot.replies import error_reply
from bot.services import Services
from bot.textnorm import after_prefix, command_form, strip_invisible
from bot.transport import IncomingEvent, IncomingMessage, IncomingReaction, OutgoingMessage, Undecryptable

log = logging.getLogger(__name__)

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
        if isinstance(event, IncomingReaction) and self._flood_verdict(event) is not Verdict.ALLOW:
            # Reactions toggle cards and send confirmations: limited like commands,
            # silently (a reaction has nothing to reply to).
            log.debug("flood control: dropped reaction %s", event.event_id)
            return
        for handler in self.registry.listeners_for(event):
            await self._run_listener(handler, event)

    def _flood_verdict(self, event: IncomingMessage | IncomingReaction) -> Verdict:
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
        except Exception:
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
        command_text = after_prefix(body, self.services.config.community.command_prefix)
        if command_text is None and not message.is_direct:
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
            if command_text is not None:
                await self.invoke(ctx, command_text)
            elif not await self.services.conversations.handle(ctx):
                await self.invoke(ctx, body)
        except UserError as error:
            await self._reply_error(ctx, error)
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("command failed (reference %s, event %s)", reference, message.event_id)
            await self._safe_reply(ctx, "core.error.unexpected", reference=reference)

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
        ctx.command = command
        ctx.invoked_with = " ".join(words[:used]).lower()
        for predicate in command.checks:
            await predicate(ctx)
        rest = text[tokens[used - 1].end :] if used else text
        conversion = ConversionContext(
            today=self.services.clock.now().date(), server_name=self.services.transport.server_name
        )
        kwargs, leftover = bind_arguments(command.params, rest, conversion)
        if leftover:
            raise BadArgument("core.error.too_many_arguments", extra=" ".join(leftover)[:80])
        await command.callback(ctx, **kwargs)

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

    async def on_undecryptable(self, event: Undecryptable) -> None:
        """The transport could not read a member's message: say so, as a reply to it, in
        their language (in a room they are mentioned, so they notice)."""
        language = await self.services.members.language_of(event.sender)
        key = "core.encryption.undecryptable_direct" if event.is_direct else "core.encryption.undecryptable"
        rendered = self.services.catalogue.render(language, key)
        await self.services.transport.send(
            OutgoingMessage(
                room_id=event.room_id,
                plain=rendered.plain,
                html=rendered.html,
                reply_to=event.event_id,
                mentions=() if event.is_direct else (event.sender,),
                txn_id=f"kb.undecryptable.{event.event_id}",
            )
        )
