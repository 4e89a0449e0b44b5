"""The Matrix transport: the only package that imports ``nio``.

Modules, one job each: :mod:`~bot.matrix.client` (client construction and login),
:mod:`~bot.matrix.sync` (the sync loop, checkpoints, gap filling, backoff),
:mod:`~bot.matrix.events` (raw events → ``Incoming*``), :mod:`~bot.matrix.sending`
(content building and idempotent sends), :mod:`~bot.matrix.rooms` (space, rooms, power
levels), :mod:`~bot.matrix.direct_chat_rooms` (DMs with members, invites),
:mod:`~bot.matrix.homeserver_calls` (the wait/retry policy),
:mod:`~bot.matrix.state` (durable facts in ``core_state``) and
:mod:`~bot.matrix.adapter` (``MatrixTransport`` tying it together).
"""

from bot.matrix.adapter import MatrixTransport

__all__ = ["MatrixTransport"]
