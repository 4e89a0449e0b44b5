"""Accreditation: registration numbers with consent, self check-in with a code, presence
lists per register for PE-online and GAIA, and certificates (*bewijs van deelname*).

Members' commands are here; the organisers' are in ``organisers.py``; the work behind
both is :class:`~commands.accreditation.service.AccreditationService`. Meetings and
attendance come from the events feature through ``sources.AttendanceSource``."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.context import Context
from bot.converters import Options
from bot.errors import UserError
from bot.formatting import Markup
from bot.i18n import format_date
from bot.ids import UserId
from bot.registry import command
from bot.services import Services
from bot.transport import Attachment
from commands.accreditation.jobs import PDF, AccreditationJobs
from commands.accreditation.organisers import OrganiserCommands
from commands.accreditation.registers import (
    OTHER,
    REGISTERS,
    Number,
    NumberError,
    check_number,
    is_other,
    register_named,
)
from commands.accreditation.service import AccreditationService
from commands.accreditation.settings import AccreditationSettings
from commands.accreditation.store import AccreditationStore
from commands.introductions.store import ProfileStore

NAME_OPTIONS = ("naam", "name")
NAME_LIMIT = 120


class Accreditation(OrganiserCommands):
    name = "accreditation"
    offer_question = "accreditation.offer.question"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.settings = AccreditationSettings.from_config(services.config)
        self.store = AccreditationStore(services.db, services.clock)
        self.service = AccreditationService(
            services, self.settings, self.store, ProfileStore(services.db, services.clock)
        )
        self.jobs = AccreditationJobs(self.service)

    def install(self) -> None:
        self.services.privacy.register("accreditation", self.store.export_member, self.store.erase_member)
        self.jobs.register()

    async def start(self) -> None:
        await self.jobs.start()

    # -- numbers -----------------------------------------------------------------------

    @command(
        "profiel zet registratie",
        aliases=["profiel wijzig registratie", "profile set registration", "profile change registration"],
        english="profile set registration",
    )
    async def set_registration(self, ctx: Context, options: Options) -> None:
        """Add your registration numbers for accreditation (BIG, SRA, NIP, RRGZ, NOLOC, other)."""
        if not options:
            raise UserError("accreditation.error.no_numbers", registers=self._register_names())
        checked: list[Number] = []
        removed: list[tuple[str, str]] = []
        name: str | None = None
        for key, value in options.items():
            if key in NAME_OPTIONS:
                name = value.strip()[:NAME_LIMIT]
                continue
            if value.strip() in ("", "-"):
                removed.append(self._register_key(key, value))
                continue
            try:
                checked.append(check_number(key, value))
            except NumberError as error:
                params: dict[str, Any] = dict(error.params)
                if "shape" in params:
                    params["shape"] = ctx.text(params["shape"])
                raise UserError(error.key, **params, registers=self._register_names()) from None
        for number in checked:
            await self.store.set_number(ctx.sender, number)
        for register, label in removed:
            await self.store.remove_number(ctx.sender, register, label)
        if name is not None:
            await self.store.set_name(ctx.sender, name or None)
        await self._show_own(ctx, "accreditation.numbers.saved")

    def _register_key(self, key: str, value: str) -> tuple[str, str]:
        if is_other(key):
            return OTHER, value.partition(":")[0].strip()
        register = register_named(key)
        if register is None:
            raise UserError(
                "accreditation.error.unknown_register",
                name=key[:30].upper(),
                registers=self._register_names(),
            )
        return register.key, ""

    @command(
        "profiel wis registratie",
        aliases=[
            "profiel verwijder registratie",
            "profile remove registration",
            "profile delete registration",
        ],
        english="profile remove registration",
    )
    async def remove_registration(self, ctx: Context, register: str, label: str | None = None) -> None:
        """Remove a registration number (``anders VGCT`` for one of another register)."""
        key, other_label = self._register_key(register, f"{label or ''}:")
        await self.store.remove_number(ctx.sender, key, other_label)
        await self._show_own(ctx, "accreditation.numbers.removed")

    @command(
        "profiel registratie",
        aliases=["profile registration", "mijn registratie"],
        english="profile registration",
    )
    async def show_registration(self, ctx: Context) -> None:
        """Your registration numbers (only you see them, in our DM)."""
        await self._show_own(ctx, "accreditation.numbers.own")

    async def _show_own(self, ctx: Context, key: str) -> None:
        """The member's numbers, always in the DM: never in a shared room."""
        numbers = (await self.store.numbers([ctx.sender])).get(ctx.sender, ())
        name = (await self.store.names([ctx.sender])).get(ctx.sender)

        def listing(language: str) -> Markup:
            catalogue = self.services.catalogue
            if not numbers:
                return catalogue.fragment(language, "accreditation.numbers.none")
            return Markup.join(
                [
                    catalogue.fragment(
                        language, "accreditation.numbers.line", register=n.register_name, number=n.for_import
                    )
                    for n in numbers
                ]
            )

        await self.services.members.tell(
            ctx.sender,
            key,
            txn_id=f"acc.own.{ctx.message.event_id}",
            answering=ctx,
            numbers=listing,
            name=name or ctx.sender,
        )
        if not ctx.is_direct:
            await ctx.reply("accreditation.numbers.in_dm")

    def _register_names(self) -> str:
        return ", ".join(r.names[0].upper() if r.key != "rrgz" else "Registerplein" for r in REGISTERS)

    # -- the introduction's optional step ------------------------------------------------

    async def offer_answered(self, ctx: Context, accepted: bool) -> Markup:
        return ctx.fragment("accreditation.offer.yes" if accepted else "accreditation.offer.no")

    # -- check-in ------------------------------------------------------------------------

    @command("inchecken", aliases=["checkin", "check-in", "check in", "incheck"], english="check-in")
    async def check_in(self, ctx: Context, *, code: str) -> None:
        """Check in at a meeting with the code on the screen (in our DM)."""
        if not ctx.is_direct:
            raise UserError("accreditation.error.checkin_in_dm")
        result = await self.service.check_in(ctx.sender, code)
        await self.jobs.plan_one(result.meeting)
        zone = ZoneInfo(self.service.timezone)
        at = result.at.astimezone(zone).strftime("%H:%M")
        has_number = bool((await self.store.numbers([ctx.sender])).get(ctx.sender))
        key = "accreditation.checkin.done" if result.new else "accreditation.checkin.again"
        await ctx.reply(
            key,
            title=result.meeting.title,
            at=at,
            hint=ctx.fragment("accreditation.checkin.no_number") if not has_number else "",
        )

    # -- what a member attended ------------------------------------------------------------

    @command(
        "mijn-accreditatie",
        aliases=["mijn accreditatie", "my-accreditation", "accreditatie", "bewijs"],
        english="my-accreditation",
    )
    async def my_accreditation(self, ctx: Context) -> None:
        """The meetings you attended, their points, and your certificates (in our DM)."""
        meetings = await self.service.source.meetings_attended(ctx.sender)
        if not meetings:
            await ctx.reply("accreditation.mine.none")
            return
        zone = ZoneInfo(self.service.timezone)
        lines = [
            ctx.fragment(
                "accreditation.mine.line",
                day=format_date(m.starts_at.astimezone(zone).date(), ctx.language, "d MMM y"),
                title=m.title,
                accreditation=m.accreditation or ctx.text("accreditation.no_points"),
            )
            for m in meetings
        ]
        total = sum(m.points or 0 for m in meetings)
        await ctx.reply(
            "accreditation.mine.report", lines=Markup.join(lines), total=f"{total:g}", count=len(meetings)
        )
        files = [await self.service.certificate(m, ctx.sender, ctx.language) for m in meetings]
        await self.services.members.tell(
            UserId(ctx.sender),
            "accreditation.mine.certificates",
            txn_id=f"acc.mine.{ctx.message.event_id}",
            answering=ctx,
            count=len(files),
            files=[Attachment(data, name, PDF) for name, data in files],
        )
