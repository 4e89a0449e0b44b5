"""Typed identifiers, so a room id is never passed where a user id belongs."""

from typing import NewType

UserId = NewType("UserId", str)
RoomId = NewType("RoomId", str)
EventId = NewType("EventId", str)
