"""The router: from an incoming event to a command, a conversation step or a listener.

It is the only place that turns errors into replies. Member mistakes (``UserError``)
become their catalogue text; anything unexpected is logged with its traceback and the
member gets a friendly message, never the exception text.

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
from bot.errors import BadArgument, CommandNotFound, MissingArgument, UserError
from bot.flood import FloodLimiter, Verdict
from bot.help import param_label, usage
from bot.registry import Command
from bot.services import Services
from bot.textnorm import after_prefix, command_form, strip_invisible
from bot.transport import IncomingEvent, IncomingMessage

log = logging.getLogger(__name__)

_MAX_COMMAND_WORDS = 4
_MAX_ECHO_CHARS = 80  # how much of a rejected argument an error message repeats


class Router:
    def __init__(self, services: Services, flood: FloodLimiter | None = None) -> None:
        self.services = services
        self.registry = services.registry
        self.flood = flood or FloodLimiter(
            services.clock,
            capacity=services.config.flood.burst,
            refill_seconds=services.config.flood.seconds_per_command,
        )
        # Commands sent while the bot was down arrive all at once after a restart; they
        # are the backlog the bot owes its members, not a flood.
        self.started_at = services.clock.now()

    async def dispatch(self, event: IncomingEvent) -> None:
        """Entry point for the transport: one event, handled completely or logged."""
        if isinstance(event, IncomingMessage):
            await self.on_message(event)
            return
        for handler in self.registry.listeners_for(event):
            await self._run_listener(handler, event)

    async def _run_listener(self, handler: Any, event: IncomingEvent) -> None:
        try:
            await handler(event)
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
        verdict = self.flood.check(message.sender) if message.timestamp >= self.started_at else Verdict.ALLOW
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
            today=self.services.clock.now().date(),
            server_name=self.services.config.matrix.server_name,
            catalogue=self.services.catalogue,
        )
        kwargs, leftover = bind_arguments(command.params, rest, conversion)
        if leftover:
            raise BadArgument("core.error.too_many_arguments", extra=" ".join(leftover)[:80])
        await command.callback(ctx, **kwargs)

    async def _reply_error(self, ctx: Context, error: UserError) -> None:
        params = dict(error.params)
        value = params.get("value")
        if isinstance(value, str) and len(value) > _MAX_ECHO_CHARS:
            params["value"] = value[: _MAX_ECHO_CHARS - 1] + "…"
        if "param" in params:
            params["param"] = param_label(self.services.catalogue, ctx.language, str(params["param"]))
        key = error.key
        if isinstance(error, BadArgument | MissingArgument) and ctx.command is not None:
            params["usage"] = self._usage(ctx, ctx.command)
            key = error.key
            await self._safe_reply(
                ctx, "core.error.with_usage", problem=ctx.fragment(key, **params), usage=params["usage"]
            )
            return
        await self._safe_reply(ctx, key, **params)

    def _usage(self, ctx: Context, command: Command) -> str:
        return usage(
            command, self.services.catalogue, ctx.language, self.services.config.community.command_prefix
        )

    async def _safe_reply(self, ctx: Context, key: str, /, **params: Any) -> None:
        try:
            await ctx.reply(key, **params)
        except Exception:
            log.exception("could not send an error reply for event %s", ctx.message.event_id)
