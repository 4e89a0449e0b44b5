# Two commands set everything up on a fresh machine:
#   make demo   runs the bot on a local homeserver it starts itself
#   make test   runs lint, type checks and the test suite without the slow tests
# Both create .venv from requirements.lock on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed-$(shell cksum requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint postgres-server poppler chromium element-deps bench bench-encrypted bench-directory bench-buddy bench-events bench-commands bench-retention bench-guard bench-scale bench-devices bench-web lock clean-demo

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip sync --quiet --python $(PY) requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(PY) run_bot.py demo

# Two workers (the machine's two cores): the real-homeserver tests stay together on one
# (one Synapse; the scheduler in tests/conftest.py), the unit tests fill the other.
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: $(STAMP) lint postgres-server poppler chromium element-deps
	$(PY) -m pytest -m "not slow" $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS))

# Only the slow tests: homeserver outages of 15 s and 2 min, a 2 min SIGSTOP, about
# 100 s of rate limiting (tests/RELIABILITY.md). CI runs it after make test.
.PHONY: test-reliability
test-reliability: $(STAMP) postgres-server
	$(PY) -m pytest -m slow

# The tests start their own PostgreSQL server (bot/devtools/postgres.py) from the
# distribution's binaries: installed here when missing (as root, with apt-get).
postgres-server:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	else echo "PostgreSQL binaries missing (install the 'postgresql' package): PostgreSQL tests will skip"; fi

# The certificate tests read the PDF back (pdftotext) and draw its page (pdftoppm):
# Debian's poppler-utils, installed here when missing (as root, with apt-get).
poppler:
	@if command -v pdftotext >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils; \
	else echo "poppler-utils missing (install the 'poppler-utils' package): the PDF rendering tests will skip"; fi

# The organisers' web page is tested in a real headless browser (Playwright drives the
# distribution's Chromium; no browser download): installed here when missing (as root).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium missing (install the 'chromium' package): the browser test will skip"; fi

# A member on Element's own crypto stack (matrix-js-sdk with its Rust crypto) is a Node
# script in tests/integration/element: its npm packages come from the committed lockfile
# (npm ci), again when the lockfile changed. Node 20 or newer is not in Debian 12's
# packages (it has 18): without it the Element client tests skip.
ELEMENT := tests/integration/element
element-deps:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		echo "node/npm missing (install Node 20 or newer with npm): the Element client tests will skip"; \
	elif [ ! -f $(ELEMENT)/node_modules/.package-lock.json ] || [ $(ELEMENT)/package-lock.json -nt $(ELEMENT)/node_modules/.package-lock.json ]; then \
		(cd $(ELEMENT) && npm ci --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000) || echo "npm ci failed: the Element client tests will skip"; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) bench/latency.py

# !help round trip in an encrypted direct chat against a plain one, in the same run.
bench-encrypted: $(STAMP)
	$(PY) bench/encrypted_latency.py

# !zoek on 1,000 / 10,000 / 100,000 generated profiles: the index alone, then the whole
# command path.
bench-directory: $(STAMP)
	$(PY) bench/directory.py
	$(PY) bench/find_command.py

# Buddy matching on 1,000 / 10,000 / 100,000 candidates.
bench-buddy: $(STAMP)
	$(PY) bench/buddy_matching.py

# Event reminders for 1,000 events with 50 attendees each: rebuild at start, lateness of
# the fan-out on a local Synapse, and the homeserver's own pace as the baseline.
bench-events: $(STAMP)
	$(PY) bench/events_reminders.py

# MSC4391 command descriptions in the example's 12 rooms: a first start, then a second.
bench-commands: $(STAMP)
	$(PY) bench/command_descriptions.py

# The organisers' events list and one event's page with 200 events and 5,000 sign-ups.
bench-web: $(STAMP)
	$(PY) bench/web_events.py

# Database size over a simulated year of 2,000 members, with and without retention.
bench-retention: $(STAMP)
	$(PY) bench/retention.py

# The privacy guard: recall and false positives on its corpus, and the time per text at
# 4 kB and 20 kB (clean and adversarial), next to the guard before it was made linear.
bench-guard: $(STAMP)
	$(PY) bench/privacy_guard.py --old e70a8df

# The large community on a real Synapse: 500 / 2,000 / 5,000 members with encrypted DMs
# (start-up, replies, the digest to everyone, a reminder to 500), and the projection to
# 50,000. Long: SIZES=100,500 for a quick run.
# Loading the crypto store's device list, nio's store against ours (1,000 / 5,000 / 20,000).
bench-devices: $(STAMP)
	$(PY) bench/device_store.py

# Synapse runs on PostgreSQL here; its driver goes into a folder only the homeserver's
# process reads, so the bot's memory is measured without it.
SIZES ?= 500,2000,5000
bench-scale: $(STAMP) postgres-server $(VENV)/synapse-postgres/psycopg2
	$(PY) bench/scale.py --sizes $(SIZES)

$(VENV)/synapse-postgres/psycopg2: | $(STAMP)
	$(UV) pip install -q --python $(PY) --target $(VENV)/synapse-postgres "psycopg2-binary>=2.9"

# Re-pin after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean-demo:
	rm -rf .demo
