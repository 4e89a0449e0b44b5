"""A synthetic corpus for the privacy guard: texts with personal data (every number,
name and address made up, generated here) and realistic case texts without any.

Used by the guard's tests and by ``bench/privacy_guard.py``.
"""

from __future__ import annotations

import random
from pathlib import Path

from stdnum import iban as stdnum_iban
from stdnum.nl import bsn as stdnum_bsn

from commands.casus.library import LANGUAGES, load_library

PROJECT = Path(__file__).resolve().parents[3]


def _bsns(n: int, rng: random.Random) -> list[str]:
    found: list[str] = []
    while len(found) < n:
        number = f"{rng.randrange(10_000_000, 99_999_999)}{rng.randrange(10)}"
        if stdnum_bsn.is_valid(number) and number not in found:
            found.append(number)
    return found


def _ibans(n: int, rng: random.Random) -> list[str]:
    banks = ["ABNA", "RABO", "INGB", "TRIO", "SNSB", "ASNB"]
    found: list[str] = []
    while len(found) < n:
        base = f"{rng.choice(banks)}{rng.randrange(10**9, 10**10)}"
        check = stdnum_iban.calc_check_digits(f"NL00{base}")
        found.append(f"NL{check}{base}")
    return found


def _spaced(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def personal_texts() -> list[tuple[str, str]]:
    """(text, category) pairs: each text holds at least that category of personal data."""
    rng = random.Random(20270316)
    bsns = _bsns(14, rng)
    ibans = _ibans(12, rng)
    texts: list[tuple[str, str]] = []
    bsn_templates = [
        "De werknemer (BSN {n}) is sinds week 6 ziek.",
        "Haar burgerservicenummer is {n}, staat in het dossier.",
        "bsn: {n} - graag niet delen",
        "Dossier van medewerker met BSN-nummer {n} en een FML van de bedrijfsarts.",
        "In de UWV-brief stond {n} als nummer van de werknemer.",
        "Sofinummer {n} hoort bij de oude aanvraag.",
        "Hij gaf zijn nummer {n} door aan de casemanager.",
        "Klant {n} heeft een WIA-aanvraag ingediend.",
        "Zie BSN {dotted} in de probleemanalyse.",
        "Werknemer met bsn {spaced} meldt zich opnieuw ziek.",
        "The employee's BSN is {n}.",
        "Citizen service number {n} was on the form.",
        "Reference {n} belongs to the employee in question.",
        "Het nummer {n} stond op de loonstrook.",
    ]
    for template, number in zip(bsn_templates, bsns, strict=True):
        dotted = f"{number[:4]}.{number[4:6]}.{number[6:]}"
        spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
        texts.append((template.format(n=number, dotted=dotted, spaced=spaced), "bsn"))
    # An 8-digit number after "BSN" counts too (a leading zero dropped).
    texts.append(("BSN 12345678 staat erbij.", "bsn"))
    iban_templates = [
        "De vergoeding gaat naar {i}.",
        "Rekeningnummer {s} van de werknemer.",
        "IBAN: {i}",
        "Zij vroeg het geld over te maken op {s}, ten name van haar partner.",
        "Het loon werd gestort op {i} tot de ziekmelding.",
        "Account {s} belongs to the employee.",
        "Please pay the invoice to {i}.",
        "Reiskosten gaan naar rekening {i}.",
        "De re-integratiekosten zijn betaald vanaf {s}.",
        "Hij noemde zijn rekening {i} in de mail.",
        "Bankrekening {s}, staat op het formulier.",
        "Zijn IBAN is {i} en zijn adres heb ik ook.",
    ]
    for template, number in zip(iban_templates, ibans, strict=True):
        texts.append((template.format(i=number, s=_spaced(number)), "iban"))
    phones = [
        "Bel haar gerust op 06-12345678.",
        "Zijn mobiele nummer is 0612345678.",
        "Telefoon: +31 6 23456789",
        "Bereikbaar op 020-1234567 tijdens kantooruren.",
        "De werkgever is te bellen op 010 123 4567.",
        "Nummer van de jobcoach: 06 34 56 78 90.",
        "Call the employee on +31 6 45678901.",
        "Privénummer 0031 6 56789012 alleen in nood.",
        "Zij belde vanaf 030-2345678 naar de arbodienst.",
        "Tel. 070 345 6789 (werkgever)",
        "De casemanager gaf 06-87654321 door.",
        "Het nummer van de partner is +31 (0)6 11223344.",
        # Numbers the numbering plan leaves unassigned, but written as a phone number
        # after a word that says so.
        "Tel. 0123 456789 (werkgever)",
        "Bel haar gerust op 0191-234567.",
        "Mobiel: 06-0000000 0",
        "Telefoonnummer van de leidinggevende: 0123456789.",
    ]
    texts += [(t, "phone") for t in phones]
    emails = [
        "Mail hem op j.de.vries@voorbeeldbedrijf.nl.",
        "Haar e-mailadres is annie1978@mailprovider.com.",
        "Contact: p.bakker@arbodienst-voorbeeld.nl",
        "Zij schreef vanaf werknemer.x@gmail.com.",
        "Stuur het verslag naar hr@bakkerij-voorbeeld.nl en de werknemer.",
        "You can reach him at mark.smit@example.org.",
        "Het UWV mailde naar t.jansen+uwv@provider.nl.",
        "De jobcoach gebruikt jc.noord@coaching-voorbeeld.nl.",
        "Privé-adres: lisa_m@hotmail.com",
        "Zijn mail is kees.visser@werk.example.nl, graag vertrouwelijk.",
        "Reply to the employee at s.k@mail.example.com.",
        "E-mail van de werkgever: directie@installatie-voorbeeld.nl.",
    ]
    texts += [(t, "email") for t in emails]
    postcodes = [
        "Zij woont op Dorpsstraat 12, 1234 AB Ergens.",
        "Adres: Kerkweg 3a, 5678 CD Plaats.",
        "De werkplek is aan de Stationslaan 45, 3511 EX Utrecht.",
        "Postcode 9712 KL, huisnummer 8.",
        "Hij verhuisde naar 2312 RA 17 in de stad.",
        "The employee lives at 1017 XN 22.",
        "Woonadres Molenplein 7, 6211 AB.",
        "Brieven gaan naar 4811 ZZ 101.",
        "Zijn huis staat op 8011AB, nummer 3.",
        "Bezoekadres: Industrieweg 88, 7521 PH Enschede.",
        "Ze woont aan de Lindelaan 2.",
        "Post voor de werknemer: 1234AB 56.",
    ]
    texts += [(t, "postcode") for t in postcodes]
    birthdates = [
        "Geboren op 12-03-1978.",
        "Geboortedatum: 3 maart 1975",
        "De werknemer (geb. 01-01-1969) is sinds januari ziek.",
        "Born 14/07/1981, employed since graduation.",
        "Zij is geboren op 21 juni 1990 in het buitenland.",
        "Datum van geboorte 1965-11-30, in het dossier.",
    ]
    texts += [(t, "birthdate") for t in birthdates]
    names = [
        "Mevrouw Jansen belde de bedrijfsarts.",
        "Het gesprek met meneer De Vries verliep moeizaam.",
        "Dhr. Bakker wil terug naar zijn eigen werk.",
        "Mw. van der Berg heeft bezwaar gemaakt.",
        "De casemanager sprak mevrouw El Amrani op het spreekuur.",
        "Meneer Pietersen, de leidinggevende, was boos.",
    ]
    texts += [(t, "name") for t in names]
    return texts


HANDWRITTEN_CLEAN = [
    "Een medewerker van begin vijftig werkt 32 uur per week en is sinds week 6 ziek gemeld.",
    "Na 104 weken volgt de WIA-beoordeling; de werkgever vraagt om een deskundigenoordeel.",
    "De FML noemt een beperking van 4 uur per dag en geen tilwerk boven 10 kilo.",
    "In spoor 2 is na 9 maanden een re-integratiebureau ingeschakeld.",
    "Ze bouwt op van 2 x 2 uur naar 3 x 4 uur per week, in overleg met de bedrijfsarts.",
    "De werknemer is 35-80 procent arbeidsongeschikt verklaard; de WGA-uitkering loopt.",
    "Artikel 7:658 BW werd genoemd in het gesprek met de werkgever.",
    "De probleemanalyse kwam in week 8, het plan van aanpak in week 10.",
    "Het bedrijf heeft 15 medewerkers en geen eigen HR-afdeling.",
    "Hij werkte 20 jaar in de bouw en heeft nu knieklachten.",
    "Een teamleider van midden veertig heeft burn-outklachten sinds het voorjaar.",
    "De eerstejaarsevaluatie liet zien dat de opbouw stilstond.",
    "De arbeidsdeskundige onderzocht of het eigen werk passend te maken is.",
    "Zij werkt op maandag, dinsdag en donderdag, telkens 6 uur.",
    "De bedrijfsarts zag haar na 6 weken voor het eerst op het spreekuur.",
    "Er is 80-100% loondoorbetaling afgesproken in het eerste jaar.",
    "Het UWV legde een loonsanctie op van 52 weken.",
    "Een chauffeur van eind vijftig mag na een hartinfarct niet meer rijden.",
    "Na de operatie in het voorjaar volgt een revalidatie van 12 weken.",
    "De jobcoach komt twee keer per week op de werkvloer, 1 uur per bezoek.",
    "De werkgever overweegt een vaststellingsovereenkomst na 18 maanden ziekte.",
    "Sinds de reorganisatie werkt het team met flexplekken en dagelijkse stand-ups.",
    "Zij kreeg op haar 40e de diagnose ADHD en gebruikt nu medicatie.",
    "De casemanager plant om de 6 weken een evaluatie met werknemer en leidinggevende.",
    "Een verzorgende van 58 jaar heeft rugklachten en werkt in onregelmatige diensten.",
    "Het re-integratieverslag moet voor week 91 bij het UWV liggen.",
    "De werknemer kan 2 uur achter elkaar zitten en moet dan bewegen.",
    "Het team bestaat uit 8 monteurs en 1 werkvoorbereider.",
    "In 2024 en 2025 was het verzuim op de afdeling 9 procent.",
    "De verzekeringsarts en de arbeidsdeskundige bespraken het dossier in 45 minuten.",
    "Hij wil graag terug naar 36 uur, maar haalt nu 24 uur met moeite.",
    "De werkgever betaalde een cursus van 3 maanden voor een andere functie.",
    "Een docent met long covid werkt sinds de zomer 3 ochtenden per week.",
    "Na een conflict over het rooster volgde mediation in 4 gesprekken.",
    "De WIA-aanvraag werd in week 93 ingediend, te laat volgens het UWV.",
    "Zij heeft mantelzorg voor haar moeder, 3 dagen per week.",
    "Het advies was om na 2 weken te starten met 50 procent van de uren.",
    "De leidinggevende belt elke vrijdag om 10 uur voor een kort contact.",
    "Er zijn 3 bedrijfsartsen en 2 casemanagers bij het dossier betrokken geweest.",
    "An employee in her early fifties works 24 hours a week after cancer treatment.",
    "After 104 weeks the WIA assessment follows; the FML limits lifting to 10 kilos.",
    "The job coach visits twice a week, 1 hour each time, on the shop floor.",
    "Meneer X werkt als monteur en mevrouw A. is zijn leidinggevende.",
    "De werknemer, mevrouw B., wil graag terug in haar oude rol.",
]


def clean_texts() -> list[str]:
    """Realistic case texts without personal data: the starter library and more."""
    library = load_library(PROJECT / "config" / "casus")
    texts: list[str] = []
    for case in library.cases.values():
        for language in LANGUAGES:
            texts.append(case.text_in(language))
            texts.append(" ".join(q for step in (1, 2, 3) for q in case.questions(step, language)))
    return texts + HANDWRITTEN_CLEAN
