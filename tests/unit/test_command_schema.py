"""MSC4391 command descriptions: generated from the registry, valid against a schema
written from the proposal, published only where they changed, and structured
invocations through the same checks and converters as typed commands."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
from datetime import date
from pathlib import Path
from typing import Any, Literal

import jsonschema
import pytest

from bot import command_schema
from bot.app import App
from bot.command_descriptions import CommandDescriptions
from bot.context import Context
from bot.converters import ConversionContext, Options, inspect_params, tokenize
from bot.errors import BadArgument, MissingArgument
from bot.ids import RoomId, UserId
from bot.matrix import events, room_state
from bot.registry import Feature, command
from bot.transport import StructuredCommand
from tests.fakes import BOB, BOT, FakeTransport, message

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "msc4391_command_description.schema.json"
EVENT_TYPE = command_schema.DESCRIPTION_EVENT_TYPE
ROOMS = (RoomId("!welcome"), RoomId("!events"), RoomId("!buikpijn"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# ------------------------------------------------------------------ state key


def test_state_key_is_the_msc_example() -> None:
    # The proposal's own example: command "ban" of @draupnir:draupnir.space.
    assert command_schema.state_key("ban", "@draupnir:draupnir.space") == (
        "JBDLR6YMe+72yqsEMi/MVdTmjN3ynPThMz+M7QLATZQ="
    )


def test_state_key_is_padded_base64_of_sha256_of_command_then_owner() -> None:
    key = command_schema.state_key("buddy zoek", BOT)
    assert len(key) == 44 and key.endswith("=")
    assert base64.b64decode(key) == hashlib.sha256(f"buddy zoek{BOT}".encode()).digest()
    assert key != command_schema.state_key("buddy zoek", "@other:localhost")
    assert key != command_schema.state_key("buddy find", BOT)


# ----------------------------------------------------------------- generation


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_registered_command_yields_a_valid_description(
    app: App, validator: jsonschema.Draft202012Validator, language: str
) -> None:
    catalogue = app.services.catalogue
    assert len(app.services.registry.commands) > 40
    for cmd in app.services.registry.commands:
        content = command_schema.describe(cmd, catalogue, language)
        errors = [e.message for e in validator.iter_errors(content)]
        assert not errors, (cmd.name, errors)
        keys = [p["key"] for p in content["parameters"]]
        assert len(keys) == len(set(keys)), cmd.name  # duplicates make clients hide it
        assert content["command"] == cmd.display_name(language)
        # The same text !help shows for the command.
        assert content["description"]["m.text"][0]["body"] == catalogue.plain(language, f"{cmd.key}.summary")
        assert content["command"] not in content.get("aliases", [])
        assert app.services.registry.get(content["command"]) is cmd
        for alias in content.get("aliases", []):
            assert app.services.registry.get(alias) is cmd
        tail = content.get(command_schema.TAIL_PARAMETER)
        if tail is not None:  # mautrix: it exists, and no required parameter follows it
            assert tail in keys
            assert all(p.get("optional") for p in content["parameters"][keys.index(tail) + 1 :])


def test_the_schema_is_not_vacuous(validator: jsonschema.Draft202012Validator) -> None:
    string = {"schema_type": "primitive", "type": "string"}
    bad_schemas: list[Any] = [
        {"schema_type": "array", "items": {"schema_type": "array", "items": string}},
        {"schema_type": "union", "variants": [{"schema_type": "array", "items": string}]},
        {"schema_type": "union", "variants": []},
        {"schema_type": "literal", "value": 1.5},
        {"schema_type": "primitive", "type": "date"},
    ]
    for schema in bad_schemas:
        content = {"command": "x", "parameters": [{"key": "a", "schema": schema}]}
        assert not validator.is_valid(content), schema
    assert not validator.is_valid({})
    assert not validator.is_valid({"command": "x", "parameters": [{"schema": string}]})
    assert validator.is_valid({"command": "rooms add", "parameters": [{"key": "a", "schema": string}]})


def test_parameters_follow_the_signature(app: App) -> None:
    registry, catalogue = app.services.registry, app.services.catalogue

    def params(name: str) -> list[dict[str, Any]]:
        found = registry.get(name)
        assert found is not None
        parameters: list[dict[str, Any]] = command_schema.describe(found, catalogue, "nl")["parameters"]
        return parameters

    # Every parameter has a label in the catalogue, which becomes its description.
    assert params("profiel") == [
        {
            "key": "member",
            "schema": {"schema_type": "primitive", "type": "user_id"},
            "optional": True,
            "description": {"m.text": [{"body": catalogue.plain("nl", "core.param.member"), "mimetype": "text/plain"}]},
        }
    ]
    taal = params("taal")[0]
    assert taal["optional"] is True
    assert taal["schema"] == {
        "schema_type": "union",
        "variants": [
            {"schema_type": "literal", "value": "nl", "literal_type": "string"},
            {"schema_type": "literal", "value": "en", "literal_type": "string"},
        ],
    }
    accept = params("buddy accepteer")[0]
    assert accept["schema"]["type"] == "integer" and "optional" not in accept
    available = params("buddy beschikbaar")
    assert available[0]["schema"]["type"] == "boolean"
    assert available[1]["schema"] == {
        "schema_type": "array",
        "items": {"schema_type": "primitive", "type": "string"},
    }
    assert "naam=waarde" in available[1]["description"]["m.text"][0]["body"]
    help_topic = params("help")[0]
    assert help_topic["schema"]["type"] == "string" and help_topic["optional"] is True
    ask = app.services.registry.get("vraag")
    assert ask is not None
    assert command_schema.describe(ask, catalogue, "nl")[command_schema.TAIL_PARAMETER] == "question"
    accept_cmd = app.services.registry.get("buddy accepteer")
    assert accept_cmd is not None
    assert command_schema.TAIL_PARAMETER not in command_schema.describe(accept_cmd, catalogue, "nl")


def test_names_in_the_community_language_with_the_other_as_alias(app: App) -> None:
    found = app.services.registry.get("buddy zoek")
    assert found is not None
    catalogue = app.services.catalogue
    dutch = command_schema.describe(found, catalogue, "nl")
    assert (dutch["command"], dutch["aliases"]) == ("buddy zoek", ["buddy find"])
    english = command_schema.describe(found, catalogue, "en")
    assert (english["command"], english["aliases"]) == ("buddy find", ["buddy zoek"])
    same = app.services.registry.get("buddy status")
    assert same is not None and "aliases" not in command_schema.describe(same, catalogue, "nl")


class _Typed(Feature):
    name = "typed"

    @command("plan", english="plan")
    async def plan(
        self,
        ctx: Context,
        day: date,
        factor: float,
        who: UserId,
        mode: Literal["kort"],
        *,
        note: str | None = None,
    ) -> None:
        """Every kind of parameter the converters know."""


def test_dates_and_fractions_are_strings_and_a_single_choice_a_literal(app: App) -> None:
    specs = inspect_params(_Typed(app.services).plan, "plan")
    schemas = [command_schema.parameter_schema(spec) for spec in specs]
    assert schemas == [
        {"schema_type": "primitive", "type": "string"},
        {"schema_type": "primitive", "type": "string"},
        {"schema_type": "primitive", "type": "user_id"},
        {"schema_type": "literal", "value": "kort", "literal_type": "string"},
        {"schema_type": "primitive", "type": "string"},
    ]


# ------------------------------------------------------------ which commands


async def test_only_commands_a_member_may_run_in_the_room_are_published(app: App) -> None:
    service = CommandDescriptions(app.services)
    names = {c.name for c in await service.usable_in(RoomId("!welcome"))}
    assert "help" in names and "buddy zoek" in names and "aanmelden" in names
    assert "status" not in names  # admins only
    assert "event nieuw" not in names  # organisers only
    assert "instellingen" not in names and "evaluatie" not in names  # direct chat only
    assert 30 <= len(names) <= 50


# --------------------------------------------------------- change detection


def test_changes_send_only_differences_and_blank_stale_ones_once() -> None:
    a = {"command": "a", "parameters": []}
    b = {"command": "b", "parameters": []}
    wanted = {"ka": a, "kb": b}
    assert command_schema.changes(wanted, wanted).empty
    assert command_schema.changes(wanted, wanted).unchanged == 2
    changed = command_schema.changes({"ka": a, "kb": {**b, "aliases": ["bee"]}}, wanted)
    assert changed.put == {"kb": b} and changed.blank == [] and changed.unchanged == 1
    stale = command_schema.changes({"ka": a, "kb": b, "kc": {"command": "c"}, "kd": {}}, wanted)
    assert stale.put == {} and stale.blank == ["kc"]  # "kd" was blanked before


async def test_publishing_twice_sends_nothing_the_second_time(app: App, transport: FakeTransport) -> None:
    service = CommandDescriptions(app.services)
    per_room = {room: len(await service.usable_in(room)) for room in ROOMS}
    first = await service.publish()
    assert first.sent == sum(per_room.values()) == len(transport.state_sent)
    assert all(kind == EVENT_TYPE and content for _, kind, _, content in transport.state_sent)
    for room_id, _, key, content in transport.state_sent:
        assert key == command_schema.state_key(content["command"], BOT), room_id
    second = await service.publish()
    assert (second.sent, second.blanked, second.unchanged) == (0, 0, first.sent)
    assert len(transport.state_sent) == first.sent


async def test_stale_descriptions_are_blanked_and_other_bots_left_alone(
    app: App, transport: FakeTransport
) -> None:
    room = "!welcome"
    gone = command_schema.state_key("oud-commando", BOT)
    transport.state[(room, EVENT_TYPE, gone)] = (BOT, {"command": "oud-commando"})
    theirs = command_schema.state_key("ban", "@draupnir:localhost")
    transport.state[(room, EVENT_TYPE, theirs)] = (UserId("@draupnir:localhost"), {"command": "ban"})
    report = await CommandDescriptions(app.services).publish([RoomId(room)])
    assert report.blanked == 1
    assert transport.state[(room, EVENT_TYPE, gone)] == (BOT, {})
    assert transport.state[(room, EVENT_TYPE, theirs)] == ("@draupnir:localhost", {"command": "ban"})
    again = await CommandDescriptions(app.services).publish([RoomId(room)])
    assert (again.sent, again.blanked) == (0, 0)


async def test_a_changed_description_is_sent_again(app: App, transport: FakeTransport) -> None:
    service = CommandDescriptions(app.services)
    await service.publish([RoomId("!welcome")])
    key = command_schema.state_key("taal", BOT)
    sender, content = transport.state[("!welcome", EVENT_TYPE, key)]
    transport.state[("!welcome", EVENT_TYPE, key)] = (sender, {**content, "description": {}})
    report = await service.publish([RoomId("!welcome")])
    assert (report.sent, report.blanked) == (1, 0)
    assert transport.state_sent[-1][2] == key


async def test_rooms_without_power_are_skipped_with_one_log_line(
    app: App, transport: FakeTransport, caplog: pytest.LogCaptureFixture
) -> None:
    transport.no_state_power.add("!events")
    with caplog.at_level(logging.WARNING, logger="bot.command_descriptions"):
        report = await CommandDescriptions(app.services).publish()
    assert report.skipped == ["!events"]
    assert not any(room == "!events" for room, *_ in transport.state_sent)
    lines = [r.getMessage() for r in caplog.records if "!events" in r.getMessage()]
    assert len(lines) == 1 and "power level" in lines[0]


async def test_start_publishes_in_the_background(app: App, transport: FakeTransport) -> None:
    await app.start_features()
    assert app.command_descriptions is not None
    report = await app.command_descriptions
    assert report.sent == len(transport.state_sent) > 0


# ---------------------------------------------------- structured invocations


def _conversion() -> ConversionContext:
    return ConversionContext(today=date(2027, 3, 16), server_name="localhost")


def test_quoted_values_come_back_whole_from_tokenize() -> None:
    for value in ("a b", 'zeg "hallo" en ga', "it's a 'test'", "", "a\"b'c d", "plain"):
        token = tokenize(command_schema.quote(value))
        assert [t.text for t in token] == [value], value


def test_structured_arguments_go_through_the_converters(app: App) -> None:
    profile = app.services.registry.get("profiel zet")
    assert profile is not None
    bound = command_schema.bind_structured(
        profile.params, {"field": "regio", "value": "  Zuid Holland "}, _conversion()
    )
    assert bound == {"field": "regio", "value": "Zuid Holland"}
    accept = app.services.registry.get("buddy accepteer")
    assert accept is not None
    assert command_schema.bind_structured(accept.params, {"number": 3}, _conversion()) == {"number": 3}
    with pytest.raises(BadArgument):
        command_schema.bind_structured(accept.params, {"number": "drie"}, _conversion())
    with pytest.raises(BadArgument):
        command_schema.bind_structured(accept.params, {"number": True}, _conversion())
    with pytest.raises(BadArgument):
        command_schema.bind_structured(accept.params, {"number": {"x": 1}}, _conversion())
    with pytest.raises(MissingArgument):
        command_schema.bind_structured(accept.params, {}, _conversion())
    with pytest.raises(BadArgument):
        command_schema.bind_structured(accept.params, {"number": 1, "extra": 2}, _conversion())


def test_structured_options_are_the_typed_options(app: App) -> None:
    find = app.services.registry.get("zoek")
    assert find is not None
    bound = command_schema.bind_structured(
        find.params,
        {"options": ["beroep=bedrijfs arts", "Regio=utrecht"], "words": "burn-out"},
        _conversion(),
    )
    assert bound["options"] == Options({"beroep": "bedrijfs arts", "regio": "utrecht"})
    assert bound["words"] == "burn-out"
    assert command_schema.bind_structured(find.params, {}, _conversion())["options"] == Options()
    with pytest.raises(BadArgument):
        command_schema.bind_structured(find.params, {"options": ["geen optie"]}, _conversion())


async def test_structured_invocation_is_answered_like_the_typed_one(
    app: App, transport: FakeTransport
) -> None:
    invocation = StructuredCommand("taal", {"language": "en"})
    await app.router.dispatch(message("@kennisbrug taal en", command=invocation, mentions=(BOT,)))
    assert "from now on" in transport.last()
    # The English name (the description's alias) works too; the body is not what counts.
    await app.router.dispatch(
        message("whatever", command=StructuredCommand("language", {"language": "nl"}), mentions=(BOT,))
    )
    assert "Nederlands" in transport.last()


async def test_structured_invocation_refuses_what_typed_refuses(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(
        message("", command=StructuredCommand("taal", {"language": "fr"}), mentions=(BOT,))
    )
    assert "`fr`" in transport.last()
    await app.router.dispatch(message("", command=StructuredCommand("status"), mentions=(BOT,), sender=BOB))
    assert "alleen voor beheerders" in transport.last()
    await app.router.dispatch(message("", command=StructuredCommand("taall"), mentions=(BOT,)))
    assert "`!taal`" in transport.last()


async def test_structured_invocation_must_mention_the_bot_in_a_room(
    app: App, transport: FakeTransport
) -> None:
    invocation = StructuredCommand("taal", {"language": "en"})
    await app.router.dispatch(message("praat engels", command=invocation, mentions=(UserId("@other:x"),)))
    assert transport.sent == []  # addressed to another bot: plain chat to us
    await app.router.dispatch(message("", command=invocation, room="!dm-bob", is_direct=True))
    assert "from now on" in transport.last()  # a direct chat is addressed to the bot


async def test_slash_prefix_runs_commands(app: App, transport: FakeTransport) -> None:
    await app.router.dispatch(message("/taal en"))
    assert "from now on" in transport.last()
    await app.router.dispatch(message("/usr/bin is where it lives"))
    await app.router.dispatch(message("/ shrug"))
    assert len(transport.sent) == 1  # not a command name: room chat, no reply
    await app.router.dispatch(message("/help", room="!dm-bob", is_direct=True))
    assert "Choose your language" in transport.last()  # the overview, in the member's English


def test_the_adapter_reads_the_command_block_and_mentions() -> None:
    def parse(content: dict[str, Any]) -> Any:
        source = {
            "event_id": "$e",
            "type": "m.room.message",
            "sender": "@lid:localhost",
            "origin_server_ts": 1_700_000_000_000,
            "content": content,
        }
        basics = events.basics(source)
        assert basics is not None
        return events.to_message(RoomId("!r"), basics, is_direct=False)

    block = {"command": "buddy zoek", "arguments": {"options": ["beroep=arts"]}}
    msg = parse(
        {
            "msgtype": "m.text",
            "body": "@kennisbrug buddy zoek beroep=arts",
            "m.mentions": {"user_ids": [BOT, 5]},
            events.COMMAND_BLOCK: block,
        }
    )
    assert msg.command == StructuredCommand("buddy zoek", {"options": ["beroep=arts"]})
    assert msg.mentions == (BOT,)
    no_body = parse({"msgtype": "m.text", events.COMMAND_BLOCK: {"command": "help"}})
    assert no_body.body == "" and no_body.command == StructuredCommand("help", {})
    for broken in ({"command": 3}, {"command": " "}, {"command": "x", "arguments": [1]}, "help"):
        assert parse({"msgtype": "m.text", "body": "x", events.COMMAND_BLOCK: broken}).command is None
    assert parse({"msgtype": "m.text", "body": "x"}).mentions == ()


# ------------------------------------------------------------ power to send


def _create(version: str, creator: str = "@admin:localhost") -> dict[str, Any]:
    return {"type": "m.room.create", "state_key": "", "sender": creator, "content": {"room_version": version}}


def _levels(**content: Any) -> dict[str, Any]:
    return {"type": "m.room.power_levels", "state_key": "", "sender": "@admin:localhost", "content": content}


def test_power_to_send_descriptions_follows_the_power_levels() -> None:
    may = room_state.may_send_state
    v10 = _create("10")
    assert may([v10, _levels(users={BOT: 100})], BOT, EVENT_TYPE)
    assert not may([v10, _levels(users={BOT: 49})], BOT, EVENT_TYPE)  # state_default is 50
    assert may([v10, _levels(users={BOT: 10}, state_default=10)], BOT, EVENT_TYPE)
    assert not may([v10, _levels(users={BOT: 60}, events={EVENT_TYPE: 75})], BOT, EVENT_TYPE)
    assert may([v10, _levels(users_default=50)], BOT, EVENT_TYPE)
    assert may([v10], BOT, EVENT_TYPE)  # no power levels at all: anyone may
    # Room version 12: the creator has unlimited power and is not listed.
    assert may([_create("12", creator=BOT), _levels(users={})], BOT, EVENT_TYPE)
    assert not may([_create("12"), _levels(users={})], BOT, EVENT_TYPE)


async def test_a_new_community_language_replaces_the_descriptions(app: App, transport: FakeTransport) -> None:
    room = RoomId("!welcome")
    first = await CommandDescriptions(app.services).publish([room])
    config = app.services.config
    english = dataclasses.replace(config, community=dataclasses.replace(config.community, language="en"))
    services = dataclasses.replace(app.services, config=english)
    report = await CommandDescriptions(services).publish([room])
    # Every text changed; a name that differs in English is a new state key, and the
    # Dutch one is blanked.
    renamed = [
        c for c in await CommandDescriptions(services).usable_in(room) if c.display_name("en") != c.name
    ]
    assert (report.sent, report.unchanged) == (first.sent, 0)
    assert report.blanked == len(renamed) > 10
    live = {
        content["command"] for (r, _, _), (_, content) in transport.state.items() if r == room and content
    }
    assert "buddy find" in live and "buddy zoek" not in live and "help" in live
