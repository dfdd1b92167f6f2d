#!/usr/bin/env python3
"""Deterministic synthetic report archive for benchmarks (issue #7 item 1).

    python bench/corpus.py --reports 10000 --seed 1 --out /tmp/corpus [--format all]

writes the same N reports in up to three layouts:

``DIR/sitegen/``  ``sitegen.yaml`` and ``content/<year>/<slug>.md`` (YAML front matter:
                  title, date, slug, actors, locations, tags, summary, source)
``DIR/hugo/``     ``hugo.toml`` (taxonomies ``actor``/``location``), a minimal theme in
                  ``layouts/`` and ``content/reports/<slug>.md`` (YAML front matter)
``DIR/pelican/``  ``pelicanconf.py`` and ``content/<slug>.md`` with Pelican's own metadata:
                  ``Title``, ``Date``, ``Category`` (the first tag), ``Tags`` (the actors),
                  ``Locations`` (a custom field, ``; `` separated), ``Summary``, ``Source``

Each report has ~600 words: real-looking sentences from templates (actors, places, numbers,
dates, quotes) and sentences from a small grammar over a fixed English vocabulary drawn with
a Zipf skew, plus one word from a list of rare words. 1-6 actors and 1-4 locations per
report are drawn with a Zipf skew from fixed pools of 300 actors and 500 places whose names
carry diacritics (Ménaka, Ḥalab, Saint-Étienne), apostrophes (Kata'ib Hezbollah, N'Djamena),
slashes (US/UK coalition) and Arabic script (كتائب حزب الله). Dates spread over 2010-2025.

Everything comes from ``random.Random(seed)`` and the fixed lists below: no network, no
clock, no hash randomisation. Two runs with the same arguments write identical bytes.
The pools do not depend on the seed, so ``static_search_compare.py`` can name actors and
places in its query mix.

Standard library only.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import re
import shutil
import sys
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ACTOR_POOL_SIZE = 300
PLACE_POOL_SIZE = 500
TARGET_WORDS = 600
FIRST_DATE = datetime(2010, 1, 1, tzinfo=UTC)
LAST_DATE = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)

# --------------------------------------------------------------------------- vocabulary


def _words(text: str) -> list[str]:
    return text.split()


NOUNS = _words("""
attack strike force group official report area village town city province district region
border road convoy checkpoint base camp position vehicle truck drone rocket missile mortar
shell militant fighter soldier civilian resident witness commander spokesman statement
government ministry army police security operation offensive assault raid ambush clash
casualty death injury victim hospital school market mosque church bridge airport port
highway river valley mountain desert field farm well water supply food aid agency
organisation council leader member unit brigade battalion patrol troop coalition alliance
faction movement militia network cell weapon explosive device bomb mine fire gunfire
barrage salvo explosion blast building house compound facility depot warehouse headquarters
office station tower line front territory control withdrawal retreat advance ceasefire truce
agreement negotiation talk meeting election protest demonstration crowd arrest detention
prisoner hostage kidnapping release exchange displacement refugee camp shelter family child
woman man elder community tribe clan population people neighbourhood street quarter suburb
outskirts centre entrance gate wall roof window night morning evening afternoon day week
month year hour minute period season winter summer spring autumn time moment history record
number figure estimate toll count source account claim denial condemnation response reaction
investigation inquiry evidence footage image video photograph social media channel post
message warning threat risk danger concern fear tension violence conflict war crisis situation
development incident event episode case pattern trend rise increase decline fall surge wave
series campaign effort mission task objective target site location route corridor crossing
passage access supply chain fuel electricity power network communication signal phone
internet service authority administration governor mayor minister president prime parliament
court judge lawyer trial sentence law decree order curfew restriction measure policy plan
strategy tactic capability capacity equipment ammunition armour helicopter aircraft jet
plane airstrike bombardment artillery tank howitzer launcher rifle gun sniper grenade
""")

IRREGULAR_PLURALS = {"man": "men", "woman": "women", "child": "children", "people": "people",
                     "militia": "militias", "personnel": "personnel", "aircraft": "aircraft",
                     "series": "series", "evidence": "evidence", "footage": "footage",
                     "ammunition": "ammunition", "armour": "armour", "equipment": "equipment",
                     "gunfire": "gunfire", "fire": "fires", "water": "water", "food": "food",
                     "aid": "aid", "fuel": "fuel", "electricity": "electricity",
                     "internet": "internet", "autumn": "autumns", "spring": "springs",
                     "violence": "violence", "history": "histories", "territory": "territories"}

VERBS = _words("""
attack strike kill wound injure destroy damage target hit launch fire shell bomb raid
capture seize take hold control occupy retake recapture lose abandon withdraw retreat
advance move deploy send arrive enter leave reach cross block close open reopen cut restore
report say state claim deny confirm announce declare warn threaten condemn accuse blame
criticise urge call demand ask request promise pledge agree reject refuse accept sign
negotiate discuss meet visit travel return flee escape evacuate displace shelter protect
defend secure guard patrol search arrest detain release free kidnap abduct hold exchange
transfer hand deliver supply provide support help assist train arm fund finance recruit
mobilise gather organise lead command direct coordinate plan prepare try attempt fail
succeed manage continue resume stop halt end begin start increase rise grow fall drop
decline remain stay keep suspend investigate examine inspect document record verify
identify name describe estimate count bury mourn burn loot
""")

IRREGULAR_PAST = {"strike": "struck", "hit": "hit", "take": "took", "hold": "held",
                  "lose": "lost", "send": "sent", "leave": "left", "cut": "cut", "say": "said",
                  "meet": "met", "flee": "fled", "free": "freed", "lead": "led",
                  "begin": "began", "grow": "grew", "fall": "fell", "keep": "kept",
                  "stop": "stopped", "drop": "dropped", "plan": "planned", "fire": "fired",
                  "bury": "buried", "try": "tried", "deny": "denied", "rise": "rose",
                  "stay": "stayed", "occupy": "occupied", "supply": "supplied",
                  "identify": "identified", "verify": "verified", "arm": "armed",
                  "shelter": "sheltered", "patrol": "patrolled", "kidnap": "kidnapped",
                  "finance": "financed", "mobilise": "mobilised", "travel": "travelled",
                  "criticise": "criticised", "organise": "organised", "burn": "burned",
                  "seize": "seized", "retake": "retook", "recapture": "recaptured"}

ADJECTIVES = _words("""
local armed military civilian security heavy large small new former senior regional
national international northern southern eastern western central rural urban remote
nearby main major minor key strategic tactical suspected alleged unknown unidentified
several many few numerous dozens hundreds thousands latest recent previous early late
initial final further additional separate similar different single multiple joint
coordinated deadly fatal serious severe critical wounded injured dead missing displaced
humanitarian medical political economic religious tribal ethnic sectarian rival allied
hostile foreign domestic official unofficial independent independent-minded public private
government-held rebel-held contested occupied besieged isolated damaged destroyed burned
intense sporadic renewed continued ongoing prolonged brief sudden unexpected routine
daily weekly nightly overnight heavy-handed reported confirmed unconfirmed credible
conflicting competing partial limited widespread significant considerable growing
""")

ADVERBS = _words("""
reportedly allegedly later earlier again also still already quickly slowly briefly
repeatedly heavily largely partly mostly nearly almost reportedly initially eventually
finally immediately subsequently separately jointly publicly privately officially
""")

PREPOSITIONS = _words("""
in near outside inside around across along between towards from into through after before
during since against among beyond behind under over
""")

CONNECTIVES = ["and", "but", "while", "although", "as", "after", "before", "because",
               "whereas", "so that", "even though", "until"]

RARE_WORDS = _words("""
quadcopter exfiltration howitzer thermobaric ammonium detonator fertiliser sandbag culvert
transponder jammer sniper's loitering tripwire ordnance shrapnel tourniquet ambulance
generator satellite ferry pontoon barge tanker dredger excavator bulldozer bakery orchard
granary abattoir pharmacy dispensary clinic madrasa cemetery mausoleum shrine minaret
aqueduct reservoir cistern pumping sewage irrigation vineyard olive pistachio date-palm
cotton sorghum millet cattle goats camels herder nomad caravan smuggler contraband cigarettes
fuel-tanker motorcycle pickup minibus tractor cart donkey bicycle wheelchair stretcher
megaphone loudspeaker leaflet graffiti banner flag checkpointing roadblock berm trench
tunnel bunker watchtower searchlight floodlight barbed razorwire concertina gabion
blast-wall t-wall hesco sangar compound's courtyard rooftop stairwell basement cellar
ballot census cadastre deed passport ledger payroll stipend ransom levy zakat tithe toll
curfew's moratorium amnesty pardon indictment subpoena tribunal arbitration mediation
ombudsman rapporteur envoy attaché consulate embassy chancery legation protocol communiqué
memorandum addendum annex appendix dossier docket manifest inventory logbook timetable
itinerary waybill bill-of-lading customs tariff quota embargo blockade cordon quarantine
triage morgue autopsy forensic ballistic calibre cartridge magazine bayonet holster
kevlar helmet flak goggles binoculars rangefinder theodolite compass sextant barometer
anemometer seismograph sandstorm haboob khamsin monsoon drought flashflood landslide
earthquake aftershock locust epidemic cholera measles polio typhoid malaria dengue
vaccination inoculation rehydration malnutrition famine gruel porridge flatbread lentils
chickpeas couscous harira tamarind hibiscus baobab acacia tamarisk oleander eucalyptus
""")

EVENT_TYPES = [
    ("airstrike", "Airstrike"), ("drone strike", "Drone strike"),
    ("rocket attack", "Rocket attack"), ("IED", "Roadside bomb"), ("ambush", "Ambush"),
    ("clashes", "Clashes"), ("kidnapping", "Kidnapping"), ("protest", "Protest"),
    ("withdrawal", "Withdrawal"), ("shelling", "Shelling"), ("raid", "Raid"),
    ("ceasefire", "Ceasefire"), ("displacement", "Displacement"), ("arrest", "Arrests"),
    ("assassination", "Assassination"), ("suicide bombing", "Suicide bombing"),
    ("mortar attack", "Mortar attack"), ("looting", "Looting"),
]

OUTCOMES = ["kills {n}", "kills {n} civilians", "wounds {n}", "leaves {n} dead",
            "kills {n} soldiers", "kills {n} fighters", "causes no casualties",
            "displaces {n} families", "damages {thing}", "destroys {thing}"]

THINGS = ["a bridge", "a checkpoint", "a market", "a power station", "a school",
          "a clinic", "an army post", "a water station", "a fuel depot", "a convoy",
          "a police station", "a grain store"]

SOURCES = [
    "Reuters", "Agence France-Presse", "Associated Press", "Al Jazeera", "BBC Monitoring",
    "Radio France Internationale", "Studio Tamani", "L'Essor", "Le Républicain",
    "Rudaw", "Shafaq News", "Kurdistan 24", "Syrian Observatory for Human Rights",
    "SANA", "Enab Baladi", "North Press Agency", "Al-Masdar", "Saba News Agency",
    "Al-Masirah", "UN OCHA situation report", "UNHCR flash update", "MINUSMA statement",
    "ACLED", "Airwaves", "local sources", "a hospital official", "a provincial council member",
    "Ministry of Defence statement", "Ministère de la Défense communiqué",
    "Operation Inherent Resolve press release", "CENTCOM statement", "AFRICOM statement",
    "Human Rights Watch", "Amnesty International", "Médecins Sans Frontières",
    "International Crisis Group", "the group's Telegram channel", "Amaq", "Sky News Arabia",
    "Asharq Al-Awsat",
]

FIRST_NAMES = _words("""
Ahmad Mohammed Ali Hassan Hussein Omar Khalid Yusuf Ibrahim Mustafa Abdullah Karim Saleh
Fatima Aisha Maryam Zainab Layla Noor Huda Amina Aminata Fatoumata Moussa Oumar Boubacar
Mamadou Souleymane Ousmane Hamadoun Issa Idrissa Abdoulaye Mahamat Haroun Adam Yacoub Jean
Pierre Marie Claire Élodie Hélène Jérôme François Thérèse Zoë Søren Björn Łukasz Dragoș
""")

SURNAMES = [name.replace("_", " ") for name in _words("""
al-Jubouri al-Dulaimi al-Obeidi al-Tamimi al-Shammari al-Hashimi al-Maliki al-Zubaidi
al-Kaabi al-Assadi al-Rubaie Haddad Khoury Mansour Nasser Saadi Darwish Ag_Acharatoumane
Ag_Ghaly Maïga Traoré Touré Keïta Coulibaly Diallo Cissé Sangaré Konaté Dicko Ould_Sidi
Deby Mahamat Abakar Ngarlejy Bouchard Lefèvre Dubois Müller Østergaard Nuñez Ćirić
""")]

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "a dozen", "dozens of", "about 20", "at least 30", "more than 50"]

SECTION_HEADINGS = ["What happened", "Context", "Claims and attribution", "Casualties",
                    "Reactions", "What remains unclear", "Background", "Aftermath",
                    "Humanitarian impact", "Local accounts"]

# --------------------------------------------------------------------------- name pools

ACTOR_SEEDS = [
    "Kata'ib Hezbollah", "Kataib Sayyid al-Shuhada", "Asa'ib Ahl al-Haq", "Harakat al-Nujaba",
    "Popular Mobilization Forces", "Islamic Resistance in Iraq", "Islamic State",
    "Islamic State Sahel Province", "Islamic State West Africa Province",
    "Jama'at Nusrat al-Islam wal-Muslimin", "Hay'at Tahrir al-Sham", "Ahrar al-Sham",
    "Jaysh al-Islam", "Syrian Democratic Forces", "People's Protection Units",
    "Syrian Arab Army", "Syrian National Army", "Free Syrian Army", "Iraqi Security Forces",
    "Iraqi Counter-Terrorism Service", "Peshmerga", "Kurdistan Workers' Party",
    "Turkish Armed Forces", "Islamic Revolutionary Guard Corps", "Quds Force",
    "Russian Aerospace Forces", "Wagner Group", "Africa Corps", "US/UK coalition",
    "US Central Command", "US Africa Command", "Operation Inherent Resolve", "Operation Barkhane",
    "Forces armées maliennes", "Forces armées nigériennes", "Armée nationale tchadienne",
    "Boko Haram", "Ansaru", "Multinational Joint Task Force", "Civilian Joint Task Force",
    "Mouvement pour le salut de l'Azawad", "Coordination des mouvements de l'Azawad",
    "Groupe d'autodéfense touareg Imghad et alliés", "Dan Na Ambassagou", "Koglweogo",
    "Volontaires pour la défense de la patrie", "MINUSMA", "UN/AU joint mission", "ECOWAS",
    "Ansar Allah", "Saudi-led coalition", "Southern Transitional Council",
    "Al-Qaeda in the Arabian Peninsula", "Al-Shabaab", "African Union Transition Mission",
    "Hezbollah", "Israel Defense Forces", "Hamas", "Palestinian Islamic Jihad",
    "Liwa' Fatemiyoun", "Liwa' Zainebiyoun", "Saraya al-Salam", "Saraya Awliya' al-Dam",
    "Rapid Support Forces", "Sudanese Armed Forces", "Libyan National Army",
    "Government of National Unity", "Tuareg/Arab patrol", "Ministry of Defence",
    "كتائب حزب الله", "حركة النجباء", "هيئة تحرير الشام", "الحشد الشعبي", "جيش المهدي",
    "Médecins Sans Frontières", "International Committee of the Red Cross",
    "Norwegian Refugee Council", "World Food Programme", "UNICEF", "Human Rights Watch",
]
ACTOR_FORMS = [
    "{n} Brigade", "{n} Division", "{n} Battalion", "{p} Military Council",
    "{p} Tribal Forces", "{p} Local Police", "{p} Self-Defence Group", "{p} Resistance Front",
    "Liwa' {w}", "Saraya {w}", "Jaysh {w}", "Kata'ib {w}", "Harakat {w}", "Ansar {w}",
    "{w} Brigades", "{w} Movement", "{p} Provincial Council", "{p} Operations Command",
]
ORDINALS = ["1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th", "11th",
            "12th", "14th", "15th", "16th", "17th", "20th", "23rd", "30th", "40th", "45th",
            "55th", "60th", "66th", "80th", "91st", "101st", "110th", "125th", "313th"]
ACTOR_WORDS = ["al-Haqq", "al-Tawhid", "al-Furqan", "al-Mahdi", "al-Abbas", "al-Imam",
               "al-Karar", "Badr", "al-Nasr", "al-Fath", "Salah al-Din", "al-Ashtar",
               "Tha'r Allah", "al-Sham", "al-Khorasani", "Hezbollah al-Nujaba", "al-Shuhada",
               "al-Muqawama", "al-Jabal", "al-Furat", "al-Jazira", "al-Sunna", "Dar al-Salam",
               "al-Qa'im", "al-Ma'mun", "Ansar al-Din", "Gharb al-Furat", "ʿAsa'ib", "Rijal"]

PLACE_SEEDS = [
    "Ménaka", "Gao", "Tombouctou", "Kidal", "Mopti", "Ségou", "Bamako", "Sévaré", "Djenné",
    "Ansongo", "Tessalit", "Aguelhok", "Léré", "Niono", "Boni", "Douentza", "Niamey",
    "Tillabéri", "Diffa", "Agadez", "Ouallam", "Ouagadougou", "Djibo", "Dori", "Fada N'Gourma",
    "Kaya", "N'Djamena", "Bol", "Abéché", "Maiduguri", "Monguno", "Damasak", "Gwoza",
    "Ḥalab", "Idlib", "Dayr az-Zawr", "Raqqa", "al-Ḥasakah", "Qamishli", "Manbij", "Kobanî",
    "ʿAfrin", "Ḥimṣ", "Ḥamāh", "Dar'a", "Tadmur", "al-Bukamal", "al-Mayadin", "Maʿarrat al-Nuʿman",
    "Saraqib", "Jisr al-Shughur", "Ma'rib", "Ṣan'ā'", "al-Ḥudaydah", "Taʿizz", "ʿAdan",
    "Baghdad", "Karbala", "Najaf", "Basra", "Mosul", "Erbil", "Kirkuk", "Tal Afar", "Sinjar",
    "al-Qa'im", "Ramadi", "Fallujah", "Tikrit", "Samarra", "Baqubah", "Jurf al-Sakhar",
    "Ain al-Asad Air Base", "Camp Taji", "Balad Air Base", "Baghdad International Airport",
    "Saint-Étienne", "Besançon", "Orléans", "Nîmes", "Évreux", "Göttingen", "Kraków",
    "Łódź", "Zürich", "Bayt Lahiya", "Khān Yūnis", "Rafaḥ", "Jabālyā", "Ṣūr", "Bint Jbeil",
    "Ṭarābulus", "Banghāzī", "Sirte", "Misrātah", "Kufra", "al-Fashir", "Nyala", "Omdurman",
    "Tal Abyad/Girê Spî", "Ras al-ʿAyn/Serêkaniyê", "Kobani/ʿAyn al-ʿArab", "Gao/Ansongo road",
    "Khartoum", "el-Geneina", "Kadugli", "Mogadishu", "Kismaayo", "Baidoa", "Beledweyne",
    "حلب", "دمشق", "الموصل", "كربلاء", "النجف", "البصرة", "إدلب", "الرقة", "دير الزور",
    "صنعاء", "مأرب", "بنغازي",
]
PLACE_PREFIXES = ["Tell ", "Kafr ", "Bir ", "Wadi ", "Jabal ", "Ras al-", "Deir ", "ʿAyn ",
                  "In-", "Tin-", "Abu ", "Umm ", "Qasr ", "Khirbat ", "Sidi ", "Hassi ", "",
                  "", "", ""]
PLACE_SYLLABLES = ["ḥa", "ṣa", "ṭa", "ma", "ra", "qa", "za", "di", "ba", "lu", "né", "kā",
                   "sū", "tī", "dō", "gou", "mé", "ʿa", "sha", "kha", "dé", "bou", "ya",
                   "na", "ri", "la", "ta", "fa", "ha", "zo", "ké", "wa"]
PLACE_SUFFIXES = ["", "", "", "", " District", " Governorate", " Cercle", " Region",
                  " Camp", " Air Base", " Crossing", " Dam", " Junction", " Oil Field"]


def _ascii_key(name: str) -> str:
    """A crude slug, only to keep pool names distinct the way slugify would see them."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[\W_]+", "", text)


def _unique(names: list[str], size: int, more) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for name in itertools.chain(names, more):
        key = _ascii_key(name)
        if key and key not in seen:
            seen.add(key)
            out.append(name)
        if len(out) == size:
            return out
    raise RuntimeError("name pool too small")


def build_places() -> list[str]:
    rng = random.Random("places")  # fixed: the pools never depend on --seed

    def more():
        while True:
            root = "".join(rng.choice(PLACE_SYLLABLES) for _ in range(rng.randint(2, 3)))
            root = root[0].upper() + root[1:] if root[0] != "ʿ" else "ʿ" + root[1].upper() + root[2:]
            yield rng.choice(PLACE_PREFIXES) + root + rng.choice(PLACE_SUFFIXES)

    return _unique(PLACE_SEEDS, PLACE_POOL_SIZE, more())


def build_actors(places: list[str]) -> list[str]:
    rng = random.Random("actors")
    latin_places = [p for p in places if any("a" <= c.lower() <= "z" for c in p)]

    def more():
        while True:
            form = rng.choice(ACTOR_FORMS)
            yield form.format(n=rng.choice(ORDINALS), p=rng.choice(latin_places[:200]),
                              w=rng.choice(ACTOR_WORDS))

    return _unique(ACTOR_SEEDS, ACTOR_POOL_SIZE, more())


PLACES = build_places()
ACTORS = build_actors(PLACES)

# --------------------------------------------------------------------------- generation


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (k ** s) for k in range(1, n + 1)))


class Zipf:
    """Draws from ``items`` with probability proportional to 1/rank**s."""

    def __init__(self, items: list[str], s: float = 1.07) -> None:
        self.items = items
        self.cum = _zipf_cum(len(items), s)
        self.total = self.cum[-1]

    def draw(self, rng: random.Random) -> str:
        return self.items[bisect.bisect(self.cum, rng.random() * self.total)]

    def distinct(self, rng: random.Random, k: int) -> list[str]:
        out: list[str] = []
        while len(out) < k:
            item = self.draw(rng)
            if item not in out:
                out.append(item)
        return out


def _plural(noun: str) -> str:
    if noun in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _past(verb: str) -> str:
    if verb in IRREGULAR_PAST:
        return IRREGULAR_PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def _ing(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith("ee"):
        return verb[:-1] + "ing"
    past = IRREGULAR_PAST.get(verb, "")
    if past.endswith(verb[-1] * 2 + "ed"):  # stopped -> stopping
        return verb + verb[-1] + "ing"
    return verb + "ing"


def _third(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _shuffled(items: list[str], key: str) -> list[str]:
    out = list(items)
    random.Random(key).shuffle(out)
    return out


# Within one part of speech the skew is milder than over all words (s < 1): the top noun
# is about 3% of nouns, the way "attack" or "forces" would be in such reports.
NOUN_Z = Zipf(_shuffled(NOUNS, "nouns"), 0.75)
VERB_Z = Zipf(_shuffled(VERBS, "verbs"), 0.75)
ADJ_Z = Zipf(_shuffled(ADJECTIVES, "adjectives"), 0.75)
ADV_Z = Zipf(ADVERBS, 0.8)
PREP_Z = Zipf(PREPOSITIONS, 1.0)
# Actor and place skew: the pool order is the popularity order (seeds first).
ACTOR_Z = Zipf(ACTORS, 0.9)
PLACE_Z = Zipf(PLACES, 0.9)
SOURCE_Z = Zipf(SOURCES, 0.8)


@dataclass(frozen=True)
class Report:
    number: int
    slug: str
    title: str
    date: datetime
    actors: tuple[str, ...]
    locations: tuple[str, ...]
    tags: tuple[str, ...]
    summary: str
    source: str
    body: str  # Markdown

    @property
    def year(self) -> int:
        return self.date.year


class Writer:
    """Generates one report's text from a seeded RNG."""

    def __init__(self, rng: random.Random, actors: list[str], places: list[str],
                 tags: list[str], when: datetime, rare: str) -> None:
        self.rng = rng
        self.actors = actors
        self.places = places
        self.tags = tags
        self.when = when
        self.rare = rare

    # -- pieces
    def noun(self, plural: bool | None = None) -> str:
        n = NOUN_Z.draw(self.rng)
        if plural is None:
            plural = self.rng.random() < 0.35
        return _plural(n) if plural else n

    def np(self, plural: bool | None = None) -> str:
        r = self.rng.random()
        det = "the" if r < 0.55 else ("a" if r < 0.75 else self.rng.choice(
            ["its", "their", "one", "another", "each", "this", "that"]))
        noun = self.noun(False if det in ("a", "one", "another", "each", "this", "that")
                         else plural)
        if det == "a" and noun[0] in "aeiou":
            det = "an"
        if self.rng.random() < 0.45:
            adj = ADJ_Z.draw(self.rng)
            if det == "an" and adj[0] not in "aeiou":
                det = "a"
            elif det == "a" and adj[0] in "aeiou":
                det = "an"
            return f"{det} {adj} {noun}"
        return f"{det} {noun}"

    def actor(self) -> str:
        return self.rng.choice(self.actors)

    def two(self, items: list[str]) -> tuple[str, str]:
        """Two different items when there are two (a report may have only one)."""
        if len(items) < 2:
            return items[0], items[0]
        a, b = self.rng.sample(items, 2)
        return a, b

    def place(self) -> str:
        return self.rng.choice(self.places)

    def number(self) -> int:
        return int(self.rng.paretovariate(1.3)) + 1

    def person(self) -> str:
        title = self.rng.choice(["", "", "Colonel ", "General ", "Captain ", "Dr ", "Sheikh "])
        return f"{title}{self.rng.choice(FIRST_NAMES)} {self.rng.choice(SURNAMES)}"

    def day_text(self, when: datetime | None = None) -> str:
        when = when or self.when
        return f"{WEEKDAYS[when.weekday()]} {when.day} {MONTHS[when.month - 1]} {when.year}"

    # -- sentences
    def grammar_sentence(self) -> str:
        r = self.rng.random()
        v = VERB_Z.draw(self.rng)
        if r < 0.3:
            s = f"{self.np()} {_past(v)} {self.np()} {PREP_Z.draw(self.rng)} {self.np()}"
        elif r < 0.5:
            s = (f"{self.np(True)} {ADV_Z.draw(self.rng)} {_past(v)} {self.np()}, "
                 f"{self.rng.choice(CONNECTIVES)} {self.np()} {_past(VERB_Z.draw(self.rng))} "
                 f"{self.np()}")
        elif r < 0.65:
            s = (f"{self.np()} {self.rng.choice(['was', 'had been', 'is'])} "
                 f"{_ing(v)} {self.np()} {PREP_Z.draw(self.rng)} {self.place()}")
        elif r < 0.8:
            s = (f"{self.rng.choice(['Residents', 'Witnesses', 'Officials', 'Analysts', 'Aid workers'])} "
                 f"said {self.np()} {_third(v) if self.rng.random() < 0.3 else _past(v)} "
                 f"{self.np()} {PREP_Z.draw(self.rng)} {self.np()}")
        else:
            s = (f"{PREP_Z.draw(self.rng).capitalize()} {self.np()}, {self.np()} "
                 f"{_past(v)} {self.np(True)} and {self.np()}")
        return s[0].upper() + s[1:] + "."

    def event_sentence(self) -> str:
        rng = self.rng
        tag = rng.choice(self.tags)
        n, m = self.number(), self.number()
        a1, a2 = self.two(self.actors)
        p1, p2 = self.two(self.places)
        templates = [
            lambda: f"{self.actor()} claimed responsibility for the {tag} on {self.day_text()}.",
            lambda: f"At least {n} people were killed and {m} wounded when the {tag} hit {self.place()}.",
            lambda: f"{self.person()}, a spokesman for {self.actor()}, said the group had {_past(VERB_Z.draw(rng))} {self.np()} near {self.place()}.",
            lambda: f"According to {SOURCE_Z.draw(rng)}, {n} {_plural(NOUN_Z.draw(rng))} were {_past(VERB_Z.draw(rng))} in {self.place()}.",
            lambda: f"{a1} denied any role in the {tag} and accused {a2} of staging it.",
            lambda: f"The {tag} was the {rng.choice(['first', 'second', 'third', 'deadliest', 'largest'])} in {self.place()} since {MONTHS[rng.randrange(12)]} {self.when.year - rng.randint(0, 3)}.",
            lambda: f"“We heard {rng.choice(NUMBER_WORDS)} explosions,” said {self.person()}, who lives in {self.place()}.",
            lambda: f"{self.actor()} forces {_past(VERB_Z.draw(rng))} {self.np()} outside {self.place()} at about {rng.randint(1, 12)}:{rng.choice(['00', '15', '30', '45'])} {rng.choice(['a.m.', 'p.m.'])} local time.",
            lambda: f"Aid agencies said {n * 10} families had fled {p1} towards {p2} since the {tag}.",
            lambda: f"{a1} and {a2} have fought over the road between {p1} and {p2} for {rng.choice(NUMBER_WORDS)} months.",
            lambda: f"Local officials in {self.place()} put the toll at {n}, while {self.actor()} said {n + m} had died.",
        ]
        return rng.choice(templates)()

    def paragraph(self, sentences: int) -> str:
        out = []
        for _ in range(sentences):
            out.append(self.event_sentence() if self.rng.random() < 0.35
                       else self.grammar_sentence())
        return " ".join(out)


def _article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" or word.startswith("IED") else "a"


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", _ascii_key_spaces(text))).strip("-")


def _ascii_key_spaces(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.replace("'", ""))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def make_report(number: int, rng: random.Random) -> Report:
    span = int((LAST_DATE - FIRST_DATE).total_seconds() // 60)
    when = FIRST_DATE + timedelta(minutes=rng.randrange(span))
    n_actors = rng.choices(range(1, 7), weights=[20, 30, 22, 14, 9, 5])[0]
    n_places = rng.choices(range(1, 5), weights=[35, 35, 20, 10])[0]
    actors = ACTOR_Z.distinct(rng, n_actors)
    places = PLACE_Z.distinct(rng, n_places)
    events = rng.sample(EVENT_TYPES, rng.choices([1, 2, 3], weights=[55, 35, 10])[0])
    tags = [e[0] for e in events]
    rare = RARE_WORDS[(number * 7919) % len(RARE_WORDS)]
    w = Writer(rng, actors, places, tags, when, rare)

    outcome = rng.choice(OUTCOMES).format(n=w.number() + 1, thing=rng.choice(THINGS))
    title = f"{events[0][1]} near {places[0]} {outcome}"
    if rng.random() < 0.4:
        title = f"{actors[0]} {rng.choice(['claims', 'denies', 'blamed for'])} {events[0][0]} in {places[0]}"
    summary = (f"{actors[0]} {_past(VERB_Z.draw(rng))} {w.np()} in {places[0]} on "
               f"{w.day_text()}; {w.grammar_sentence()[0].lower()}{w.grammar_sentence()[1:]}")
    source = SOURCE_Z.draw(rng)

    paragraphs: list[str] = []
    # The lead names every actor and place, as a real report would.
    lead = (f"On {w.day_text()}, {' and '.join(places)} saw {_article(events[0][0])} {events[0][0]} involving "
            f"{', '.join(actors[:-1]) + ' and ' + actors[-1] if len(actors) > 1 else actors[0]}. "
            + w.paragraph(3))
    paragraphs.append(lead)
    words = len(lead.split())
    headings = rng.sample(SECTION_HEADINGS, 4)
    rare_done = False
    while words < TARGET_WORDS:
        if len(paragraphs) in (2, 4, 6) and headings:
            paragraphs.append("## " + headings.pop())
        para = w.paragraph(rng.randint(3, 6))
        if not rare_done:
            para += f" Witnesses also mentioned a {rare} near the {NOUN_Z.draw(rng)}."
            rare_done = True
        if rng.random() < 0.08:
            para += "\n\n" + "\n".join(f"- {w.place()}: {w.number()} {rng.choice(['killed', 'wounded', 'missing', 'detained'])}"
                                       for _ in range(rng.randint(2, 4)))
        paragraphs.append(para)
        words += len(para.split())
    body = "\n\n".join(paragraphs) + "\n"
    slug = f"{_slug(title)[:60].rstrip('-')}-{number:05d}"
    return Report(number, slug, title, when, tuple(actors), tuple(places), tuple(tags),
                  summary, source, body)


def generate(n: int, seed: int):
    """Yield ``n`` reports. Report i depends only on (seed, i), so a larger corpus starts
    with the smaller one."""
    for i in range(1, n + 1):
        yield make_report(i, random.Random(f"{seed}:{i}"))


# --------------------------------------------------------------------------- writers


def _q(text: str) -> str:
    """A double-quoted scalar valid in both JSON and YAML."""
    return json.dumps(text, ensure_ascii=False)


def _qlist(items) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def sitegen_text(r: Report) -> str:
    return (
        "---\n"
        f"title: {_q(r.title)}\n"
        f"date: {r.date.strftime('%Y-%m-%dT%H:%M:%S+00:00')}\n"
        f"slug: {_q(r.slug)}\n"
        f"actors: {_qlist(r.actors)}\n"
        f"locations: {_qlist(r.locations)}\n"
        f"tags: {_qlist(r.tags)}\n"
        f"summary: {_q(r.summary)}\n"
        f"source: {_q(r.source)}\n"
        "---\n\n" + r.body
    )


def hugo_text(r: Report) -> str:
    return (
        "---\n"
        f"title: {_q(r.title)}\n"
        f"date: {r.date.strftime('%Y-%m-%dT%H:%M:%S+00:00')}\n"
        f"slug: {_q(r.slug)}\n"
        f"actors: {_qlist(r.actors)}\n"
        f"locations: {_qlist(r.locations)}\n"
        f"summary: {_q(r.summary)}\n"
        "params:\n"
        f"  tags: {_qlist(r.tags)}\n"
        f"  source: {_q(r.source)}\n"
        "---\n\n" + r.body
    )


def pelican_text(r: Report) -> str:
    # Pelican splits Tags on ";" when there is one, else on ","; names hold no ";" or ",".
    return (
        f"Title: {r.title}\n"
        f"Date: {r.date.strftime('%Y-%m-%d %H:%M')}\n"
        f"Slug: {r.slug}\n"
        f"Category: {r.tags[0]}\n"
        f"Tags: {'; '.join(r.actors)};\n"
        f"Locations: {'; '.join(r.locations)}\n"
        f"Summary: {r.summary}\n"
        f"Source: {r.source}\n"
        "\n" + r.body
    )


SITEGEN_CONFIG = """\
# Synthetic benchmark archive written by bench/corpus.py.
title: Synthetic Conflict Archive
description: Generated reports for benchmarks; not real events.
base_url: /
language: en
timezone: UTC
page_size: 20
"""

HUGO_CONFIG = """\
baseURL = "http://localhost/"
locale = "en"
title = "Synthetic Conflict Archive"
disableKinds = ["RSS", "sitemap", "robotsTXT", "404"]
[pagination]
  pagerSize = 20
[taxonomies]
  actor = "actors"
  location = "locations"
"""

HUGO_LAYOUTS = {
    "baseof.html": """\
<!doctype html>
<html lang="{{ site.Language.Lang }}">
<head><meta charset="utf-8"><title>{{ if not .IsHome }}{{ .Title }} · {{ end }}{{ site.Title }}</title></head>
<body>
<header><a href="{{ "/" | relURL }}">{{ site.Title }}</a>
<nav><a href="{{ "/actors/" | relURL }}">Actors</a> <a href="{{ "/locations/" | relURL }}">Locations</a></nav></header>
<main>{{ block "main" . }}{{ end }}</main>
</body>
</html>
""",
    "home.html": """\
{{ define "main" }}<h1>{{ site.Title }}</h1>
{{ $paginator := .Paginate (where site.RegularPages "Section" "reports") }}
{{ partial "list.html" $paginator.Pages }}
{{ partial "pager.html" $paginator }}{{ end }}
""",
    "page.html": """\
{{ define "main" }}<article><h1>{{ .Title }}</h1>
<p><time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "2 January 2006" }}</time> · {{ .Params.source }}</p>
<p>{{ .Summary }}</p>
<ul>{{ range .GetTerms "actors" }}<li><a href="{{ .RelPermalink }}">{{ .LinkTitle }}</a></li>{{ end }}</ul>
<ul>{{ range .GetTerms "locations" }}<li><a href="{{ .RelPermalink }}">{{ .LinkTitle }}</a></li>{{ end }}</ul>
{{ .Content }}</article>{{ end }}
""",
    "section.html": """\
{{ define "main" }}<h1>{{ .Title }}</h1>
{{ $paginator := .Paginate .Pages }}
{{ partial "list.html" $paginator.Pages }}
{{ partial "pager.html" $paginator }}{{ end }}
""",
    "taxonomy.html": """\
{{ define "main" }}<h1>{{ .Title }}</h1>
<ul>{{ range .Data.Terms.ByCount }}<li><a href="{{ .Page.RelPermalink }}">{{ .Page.LinkTitle }}</a> ({{ .Count }})</li>{{ end }}</ul>{{ end }}
""",
    "term.html": """\
{{ define "main" }}<h1>{{ .Title }}</h1>
{{ $paginator := .Paginate .Pages }}
{{ partial "list.html" $paginator.Pages }}
{{ partial "pager.html" $paginator }}{{ end }}
""",
    "_partials/list.html": """\
<ol>{{ range . }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> <time>{{ .Date.Format "2006-01-02" }}</time><p>{{ .Summary }}</p></li>{{ end }}</ol>
""",
    "_partials/pager.html": """\
<nav>{{ with .Prev }}<a href="{{ .URL }}">Newer</a>{{ end }} {{ with .Next }}<a href="{{ .URL }}">Older</a>{{ end }}</nav>
""",
}

PELICAN_CONFIG = """\
# Synthetic benchmark archive written by bench/corpus.py.
AUTHOR = "bench"
SITENAME = "Synthetic Conflict Archive"
SITEURL = ""
PATH = "content"
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
DEFAULT_PAGINATION = 20
DEFAULT_DATE_FORMAT = "%Y-%m-%d"
# Actors are Pelican tags (one page per tag); locations are the custom "Locations" field.
FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
ARTICLE_URL = "reports/{date:%Y}/{slug}/"
ARTICLE_SAVE_AS = "reports/{date:%Y}/{slug}/index.html"
RELATIVE_URLS = True
"""

FORMATS = ("sitegen", "hugo", "pelican")


def write_corpus(out: Path, n: int, seed: int, formats: tuple[str, ...]) -> int:
    """Write the corpus; returns the number of reports. Existing format folders are
    replaced."""
    roots = {}
    for fmt in formats:
        root = out / fmt
        if root.exists():
            shutil.rmtree(root)
        (root / "content").mkdir(parents=True)
        roots[fmt] = root
    if "sitegen" in roots:
        (roots["sitegen"] / "sitegen.yaml").write_text(SITEGEN_CONFIG, encoding="utf-8")
    if "hugo" in roots:
        (roots["hugo"] / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")
        for rel, text in HUGO_LAYOUTS.items():
            path = roots["hugo"] / "layouts" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (roots["hugo"] / "content" / "reports").mkdir()
        (roots["hugo"] / "content" / "reports" / "_index.md").write_text(
            "---\ntitle: Reports\n---\n", encoding="utf-8")
    if "pelican" in roots:
        (roots["pelican"] / "pelicanconf.py").write_text(PELICAN_CONFIG, encoding="utf-8")

    years: set[int] = set()
    count = 0
    for r in generate(n, seed):
        count += 1
        if "sitegen" in roots:
            d = roots["sitegen"] / "content" / str(r.year)
            if r.year not in years:
                d.mkdir(exist_ok=True)
                years.add(r.year)
            (d / f"{r.slug}.md").write_text(sitegen_text(r), encoding="utf-8")
        if "hugo" in roots:
            (roots["hugo"] / "content" / "reports" / f"{r.slug}.md").write_text(
                hugo_text(r), encoding="utf-8")
        if "pelican" in roots:
            (roots["pelican"] / "content" / f"{r.slug}.md").write_text(
                pelican_text(r), encoding="utf-8")
    return count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", type=int, default=1000, metavar="N")
    p.add_argument("--seed", type=int, default=1, metavar="S")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--format", choices=(*FORMATS, "all"), default="all")
    args = p.parse_args(argv)
    if args.reports < 1:
        p.error("--reports must be at least 1")
    formats = FORMATS if args.format == "all" else (args.format,)
    n = write_corpus(args.out, args.reports, args.seed, formats)
    print(f"wrote {n} reports ({', '.join(formats)}) under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
