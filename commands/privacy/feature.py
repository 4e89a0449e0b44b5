"""``!privacy``, ``!mijngegevens`` and ``!vergeet-mij``: a member's privacy rights.

Every feature that keeps member data registers export/erase hooks in
``services.privacy``; these commands walk those hooks and never read another
feature's tables themselves. Personal data only ever goes to the member's DM.
"""

from __future__ import annotations

from bot.context import Context
from bot.registry import Feature, command
from bot.services import Services
from commands.privacy.export import CONTENT_TYPE, encode, export_document, export_filename
from commands.privacy.forget import FLOW_NAME, LANGUAGE, ForgetFlow


class PrivacyCommands(Feature):
    name = "privacy"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        services.conversations.register(ForgetFlow(services))

    @command("privacy", aliases=["privacyverklaring"], english="privacy")
    async def statement(self, ctx: Context) -> None:
        """What the bot keeps, why, who sees it, for how long, and how to see or erase it."""
        contact = self.services.config.community.privacy_contact
        # Without a configured controller the statement says so instead of naming none.
        said = (
            ctx.fragment("privacy.contact.named", contact=contact)
            if contact
            else ctx.fragment("privacy.contact.missing")
        )
        await ctx.reply("privacy.statement", contact=said)

    @command("mijngegevens", aliases=["mijn gegevens", "mydata"], english="mydata")
    async def my_data(self, ctx: Context) -> None:
        """Send the member, in their DM, a file with everything kept about them."""
        now = self.services.clock.now()
        community = self.services.config.community
        document = export_document(
            ctx.sender, community.name, now, await self.services.privacy.export_all(ctx.sender)
        )
        await ctx.send_dm("privacy.export.dm")
        await ctx.upload(encode(document), export_filename(now, community.timezone), CONTENT_TYPE, to_dm=True)
        if not ctx.is_direct:
            await ctx.reply("privacy.export.sent_to_dm")

    @command("vergeet-mij", aliases=["vergeetmij", "forgetme", "forget me"], english="forgetme")
    async def forget_me(self, ctx: Context) -> None:
        """Ask, in the DM, whether to erase everything; the flow erases on yes."""
        room = ctx.room_id if ctx.is_direct else await self.services.members.direct_room(ctx.sender)
        await self.services.conversations.start(ctx, FLOW_NAME, room, answers={LANGUAGE: ctx.language})
        if not ctx.is_direct:
            await ctx.reply("privacy.forget.asked_in_dm")
