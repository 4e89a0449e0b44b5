# Two commands set everything up on a fresh machine:
#   make demo   runs the bot on a local homeserver it starts itself
#   make test   runs lint, type checks and the whole test suite
# Both create .venv from requirements.lock on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed-$(shell cksum requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench bench-encrypted bench-directory bench-buddy bench-events bench-guard lock clean-demo

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip sync --quiet --python $(PY) requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(PY) run_bot.py demo

test: $(STAMP) lint
	$(PY) -m pytest

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

# The privacy guard: recall and false positives on its corpus, and the time per text at
# 4 kB and 20 kB (clean and adversarial), next to the guard before it was made linear.
bench-guard: $(STAMP)
	$(PY) bench/privacy_guard.py --old e70a8df

# Re-pin after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean-demo:
	rm -rf .demo
