"""The words members type to the buddy commands, in one place so they can move to the
catalogues as a whole: option names and their synonyms, check-in answers, pause words.

What the member is *shown* (the list of options in an error, for example) is catalogue
text; these are only the words that are *read*.
"""

from __future__ import annotations

# ``!buddy zoek`` options, Dutch and English, to the criterion they set.
FIND_OPTIONS = {
    "beroep": "professions",
    "beroepen": "professions",
    "profession": "professions",
    "ervaring": "experience",
    "experience": "experience",
    "regio": "regions",
    "region": "regions",
    "provincie": "regions",
    "dag": "days",
    "dagen": "days",
    "day": "days",
    "days": "days",
    "thema": "themes",
    "themas": "themes",
    "theme": "themes",
    "themes": "themes",
    "onderwerp": "topic",
    "topic": "topic",
    "over": "topic",
    "ander-beroep": "cross",
    "anderberoep": "cross",
    "other-profession": "cross",
    "cross": "cross",
    "opnieuw": "again",
    "again": "again",
}

# ``!buddy beschikbaar ja max=2``: the one option, under its names.
MAX_OPTIONS = ("max", "maximum", "aantal")

# ``!buddy checkin ...`` answers to what they record.
CHECKIN_ANSWERS = {
    "ja": "yes",
    "j": "yes",
    "yes": "yes",
    "y": "yes",
    "zeker": "yes",
    "nog niet": "not_yet",
    "nog-niet": "not_yet",
    "nee": "not_yet",
    "niet": "not_yet",
    "no": "not_yet",
    "not yet": "not_yet",
    "not-yet": "not_yet",
    "stop": "stop",
    "stoppen": "stop",
    "klaar": "stop",
}

# ``!buddy pauze uit`` ends a pause; ``!buddy pauze tot 1 mei`` reads the date after the word.
PAUSE_OFF = ("uit", "off", "stop", "geen", "none")
PAUSE_UNTIL = ("tot en met ", "tot ", "until ", "till ")
