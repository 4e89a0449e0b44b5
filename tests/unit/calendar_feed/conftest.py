"""The feed is served by the organisers' web app: the same app and test client."""

from tests.unit.organiser_web.conftest import app, client

__all__ = ["app", "client"]
