"""The organisers' commands: the check-in code on the screen, the presence lists for
PE-online and GAIA, and every certificate of a meeting in one ZIP. Everything they
return goes to the organiser's DM: the lists hold members' registration numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.context import Context
from bot.errors import CheckFailure
from bot.formatting import Markup
from bot.ids import UserId
from bot.registry import Feature, check, command
from bot.transport import Attachment
from commands.accreditation.codes import shown
from commands.accreditation.documents import checkin_png
from commands.accreditation.presence import Presence
from commands.accreditation.service import slug

if TYPE_CHECKING:
    from commands.accreditation.jobs import AccreditationJobs
    from commands.accreditation.service import AccreditationService


async def organiser_only(ctx: Context) -> None:
    """Organisers of meetings (as the events feature knows them) and moderators."""
    feature = ctx.command.feature if ctx.command is not None else None
    if isinstance(feature, OrganiserCommands) and await feature.service.source.may_organise(ctx.sender):
        return
    raise CheckFailure("accreditation.error.organisers_only")


class OrganiserCommands(Feature):
    service: AccreditationService
    jobs: AccreditationJobs

    async def _to_dm(self, ctx: Context, key: str, files: list[Attachment], **params: Any) -> None:
        await self.services.members.tell(
            UserId(ctx.sender),
            key,
            txn_id=f"acc.org.{ctx.message.event_id}",
            answering=ctx,
            files=files,
            **params,
        )
        if not ctx.is_direct:
            await ctx.reply("accreditation.sent_to_dm")

    @command("event checkin", aliases=["event inchecken", "event check-in"], english="event checkin")
    @check(organiser_only)
    async def event_checkin(self, ctx: Context, event_id: int) -> None:
        """A check-in code and QR image for the screen, valid during the meeting."""
        meeting, code = await self.service.issue_code(event_id, ctx.sender)
        await self.jobs.plan_one(meeting)
        link = self.services.transport.user_permalink(self.services.transport.own_user_id)
        caption = ctx.text("accreditation.qr.caption", code=code.code)
        png = checkin_png(link, shown(code.code), caption)
        zone = ZoneInfo(self.service.timezone)
        await self._to_dm(
            ctx,
            "accreditation.code.issued",
            [Attachment(png, f"inchecken-{meeting.id}.png", "image/png")],
            title=meeting.title,
            id=meeting.id,
            code=code.code,
            shown=shown(code.code),
            opens=code.opens_at.astimezone(zone).strftime("%H:%M"),
            closes=code.closes_at.astimezone(zone).strftime("%H:%M"),
        )

    @command(
        "event presentie",
        aliases=["event presence", "event presentielijst", "event export"],
        english="event presence",
    )
    @check(organiser_only)
    async def event_presence(self, ctx: Context, event_id: int) -> None:
        """The presence lists per register (to paste into PE-online or GAIA) and a CSV."""
        report = await self.service.presence_lists(event_id, ctx.language, exported_by=ctx.sender)
        meeting = report.meeting
        day = meeting.starts_at.astimezone(ZoneInfo(self.service.timezone)).date().isoformat()
        filename = f"{ctx.text('accreditation.csv.filename')}-{day}-{slug(meeting.title)}.csv"
        await self._to_dm(
            ctx,
            "accreditation.presence.report",
            [Attachment(report.csv.encode("utf-8-sig"), filename, "text/csv")],
            title=meeting.title,
            id=meeting.id,
            accreditation=meeting.accreditation or ctx.text("accreditation.no_points"),
            count=len(report.presence.attendees),
            lists=self._lists(ctx, report.presence),
            without=self._without(ctx, report.presence),
        )

    def _lists(self, ctx: Context, presence: Presence) -> Markup:
        if not presence.lists:
            return ctx.fragment("accreditation.presence.no_numbers")
        blocks = [
            ctx.fragment(
                "accreditation.presence.register"
                if item.named
                else "accreditation.presence.register_unnamed",
                register=item.register,
                count=len(item.numbers),
                numbers=Markup.join(
                    ctx.fragment("accreditation.presence.number_line", number=n) for n in item.numbers
                ),
            )
            for item in presence.lists
        ]
        return Markup.join(blocks, "\n\n")

    def _without(self, ctx: Context, presence: Presence) -> Markup:
        if not presence.without_number:
            return ctx.fragment("accreditation.presence.everyone_numbered")
        names = [
            ctx.fragment(
                "accreditation.presence.without_line",
                member=self.services.members.mention(ctx.language, a.user_id),
            )
            for a in presence.without_number
        ]
        return ctx.fragment("accreditation.presence.without", count=len(names), members=Markup.join(names))

    @command(
        "event certificaten",
        aliases=["event certificates", "event bewijzen", "event deelnamebewijzen"],
        english="event certificates",
    )
    @check(organiser_only)
    async def event_certificates(self, ctx: Context, event_id: int) -> None:
        """Every attendee's certificate of a meeting, in one ZIP."""
        name, data, count = await self.service.certificates_zip(event_id, ctx.language)
        meeting = await self.service.meeting(event_id)
        if count == 0:
            await ctx.reply("accreditation.certificates.nobody", id=meeting.id, title=meeting.title)
            return
        await self._to_dm(
            ctx,
            "accreditation.certificates.zip",
            [Attachment(data, name, "application/zip")],
            title=meeting.title,
            id=meeting.id,
            count=count,
        )
