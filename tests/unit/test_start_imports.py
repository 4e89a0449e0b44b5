"""What a start loads: the libraries for rarely made files (PDF, QR and images, web pages,
holiday calendars, the terminal chat) and Alembic for an unchanged schema stay out of the
process until they are needed; each costs megabytes of resident memory and time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
HEAVY = (
    "fpdf",
    "PIL",
    "segno",
    "jinja2",
    "textual",
    "matplotlib",
    "icalendar",
    "alembic",
    "holidays",
    "phonenumbers",
    "stdnum",
)

SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from bot.app import build_app
from tests.fakes import FakeTransport, make_config

async def main(tmp):
    config = make_config(Path(tmp))
    for _ in range(2):  # the second start is the one that counts: the schema is there
        for name in [m for m in sys.modules if m.split(".")[0] == "alembic"]:
            del sys.modules[name]
        app = await build_app(config, transport_factory=FakeTransport)
        await app.services.db.dispose()

asyncio.run(main(sys.argv[1]))
loaded = sorted({m.split(".")[0] for m in sys.modules})
calendars = [m for m in sys.modules if m.startswith("holidays.countries.")]
print(json.dumps({"loaded": loaded, "calendars": len(calendars), "web_server": "aiohttp.web" in sys.modules}))
"""


def test_a_start_loads_no_heavy_library_it_does_not_need(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert [name for name in HEAVY if name in found["loaded"]] == []
    assert found["calendars"] == 0, "the holiday calendars of every country were loaded"
    assert found["web_server"] is False, "aiohttp's web server loaded for a bot whose web page is off"


def test_the_holiday_country_check_knows_what_the_library_knows() -> None:
    """The config check reads the library's registry without importing it: the same codes."""
    import holidays

    from commands.casus.settings import _holiday_countries

    assert _holiday_countries() == set(holidays.list_supported_countries())
    assert {"NL", "NLD", "BE", "DE", "UK"} <= _holiday_countries()
