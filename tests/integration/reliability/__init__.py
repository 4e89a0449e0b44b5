"""Issue 3, "Nothing lost": the bot as a real process under crashes, outages and limits.

``faults`` starts and breaks things (bot processes, homeservers), ``observe`` reads
what members see, and ``crash_feature``/``reminder_feature`` are test-only feature
packages loaded through the ``plugins:`` config key. ``tests/RELIABILITY.md`` maps
every point of the issue to its test.
"""
