"""A deterministic generator of person records with identity noise and ground truth.

People get a name, date of birth, e-mail, phone and address; some live in households that
share an address (and often a surname). Each person appears in one or more source records
(crm, ecommerce, support, web) with noise: typos, nicknames, a changed e-mail, phone or
address (a move), missing fields, a mistyped date of birth. The ``person_id`` column is the
truth. Same ``(n_records, seed)``, same table.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

GIVEN = {
    "robert": ["bob", "rob", "bobby"], "william": ["bill", "will", "billy"], "elizabeth": ["liz", "beth", "betty"],
    "james": ["jim", "jimmy"], "michael": ["mike", "mick"], "katherine": ["kathy", "kate"], "richard": ["rick", "dick"],
    "margaret": ["maggie", "peggy"], "thomas": ["tom", "tommy"], "joseph": ["joe", "joey"], "daniel": ["dan", "danny"],
    "jennifer": ["jen", "jenny"], "christopher": ["chris"], "patricia": ["pat", "trish"], "anthony": ["tony"],
    "samuel": ["sam"], "susan": ["sue", "susie"], "edward": ["ed", "ted"], "alexander": ["alex"], "rebecca": ["becky"],
    "nicholas": ["nick"], "jessica": ["jess"], "matthew": ["matt"], "victoria": ["vicky"], "steven": ["steve"],
    "andrew": ["andy"], "timothy": ["tim"], "isabella": ["bella", "izzy"], "david": ["dave"], "peter": ["pete"],
}
PLAIN_GIVEN = ["mary", "linda", "barbara", "sarah", "karen", "nancy", "lisa", "betty", "sandra", "ashley", "emily", "donna", "michelle", "carol", "amanda", "melissa", "deborah", "stephanie", "laura", "helen", "anna", "olivia", "emma", "ava", "sophia", "mia", "charlotte", "amelia", "harper", "evelyn", "abigail", "ella", "scarlett", "grace", "chloe", "camila", "penelope", "riley", "layla", "lillian", "nora", "zoey", "hannah", "hazel", "aurora", "addison", "john", "charles", "george", "kevin", "brian", "ronald", "jason", "ryan", "jacob", "gary", "eric", "jonathan", "larry", "justin", "scott", "brandon", "benjamin", "frank", "gregory", "raymond", "jack", "dennis", "jerry", "tyler", "aaron", "jose", "adam", "nathan", "henry", "douglas", "zachary", "kyle", "noah", "ethan", "jeremy", "walter", "christian", "keith", "roger", "terry", "austin", "sean", "gerald", "carl", "harold", "dylan", "arthur", "lawrence", "jordan", "jesse", "bryan", "billy", "bruce", "gabriel", "joe", "logan", "albert", "willie", "alan", "eugene", "russell", "vincent", "philip", "bobby", "johnny", "bradley", "oliver", "liam", "lucas", "mason", "logan", "elijah", "aiden", "caleb", "owen", "wyatt", "luke", "isaac", "levi", "julian", "hudson", "lincoln", "miles", "milo", "leo"]
SURNAMES = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson", "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores", "green", "adams", "nelson", "baker", "hall", "rivera", "campbell", "mitchell", "carter", "roberts", "gomez", "phillips", "evans", "turner", "diaz", "parker", "cruz", "edwards", "collins", "reyes", "stewart", "morris", "morales", "murphy", "cook", "rogers", "gutierrez", "ortiz", "morgan", "cooper", "peterson", "bailey", "reed", "kelly", "howard", "ramos", "kim", "cox", "ward", "richardson", "watson", "brooks", "chavez", "wood", "james", "bennett", "gray", "mendoza", "ruiz", "hughes", "price", "alvarez", "castillo", "sanders", "patel", "myers", "long", "ross", "foster", "jimenez", "powell", "jenkins", "perry", "russell", "sullivan", "bell", "coleman", "butler", "henderson", "barnes", "gonzales", "fisher", "vasquez", "simmons", "romero", "jordan", "patterson", "alexander", "hamilton", "graham", "reynolds", "griffin", "wallace", "moreno", "west", "cole", "hayes", "bryant", "herrera", "gibson", "ellis", "tran", "medina", "aguilar", "stevens", "murray", "ford", "castro", "marshall", "owens", "harrison", "fernandez", "mcdonald", "woods", "washington", "kennedy", "wells", "vargas", "henry", "chen", "freeman", "webb", "tucker", "guzman", "burns", "crawford", "olson", "simpson", "porter", "hunter", "gordon", "mendez", "silva", "shaw", "snyder"]
SYLLABLES = ["ab", "al", "an", "ar", "ber", "bro", "car", "den", "dor", "el", "en", "er", "fal", "gar", "hal", "har", "ing", "kel", "lan", "ley", "lin", "mar", "mer", "mon", "nor", "ol", "par", "ran", "ros", "sel", "son", "ston", "ter", "ton", "val", "ven", "wal", "wick", "win", "wood", "worth"]
STREETS = ["oak", "maple", "cedar", "pine", "elm", "washington", "lake", "hill", "park", "main", "church", "mill", "river", "spring", "north", "south", "highland", "forest", "meadow", "sunset", "ridge", "valley", "walnut", "cherry", "willow", "chestnut", "franklin", "jefferson"]
STREET_TYPES = ["street", "road", "avenue", "lane", "drive", "court", "place"]
CITIES = ["springfield", "riverside", "franklin", "greenville", "bristol", "clinton", "fairview", "salem", "madison", "georgetown", "arlington", "ashland", "burlington", "manchester", "milton", "newport", "oxford", "dover", "hudson", "kingston"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "mail.com"]
SOURCES = ["crm", "ecommerce", "support", "web"]

#: probabilities of each kind of noise in one record
NOISE = {"typo_given": 0.06, "typo_surname": 0.06, "nickname": 0.12, "new_email": 0.12, "new_phone": 0.1,
         "moved": 0.1, "missing": 0.12, "dob_typo": 0.03}


def _surnames(rng: random.Random, n: int) -> list[str]:
    made = {"".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))) for _ in range(n)}
    return SURNAMES + sorted(made)


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 3:
        return s
    i = rng.randrange(1, len(s) - 1)
    op = rng.random()
    if op < 0.3:
        return s[:i] + s[i + 1:]
    if op < 0.6:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if op < 0.8:
        return s[:i] + rng.choice(string.ascii_lowercase) + s[i + 1:]
    return s[:i] + rng.choice(string.ascii_lowercase) + s[i:]


class _Person:
    __slots__ = ("address", "dob", "email", "given", "phone", "pid", "surname")


def _address(rng: random.Random) -> tuple[str, str, str]:
    street = f"{rng.randint(1, 999)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    return street, rng.choice(CITIES), f"{rng.randint(10000, 99999)}"


def _email(rng: random.Random, given: str, surname: str, taken: set[str]) -> str:
    """A new address nobody else holds (mailboxes are personal; namesakes get a number)."""
    style = rng.random()
    user = f"{given}.{surname}" if style < 0.4 else f"{given[0]}{surname}" if style < 0.7 else f"{given}{rng.randint(1, 99)}"
    email = f"{user}@{rng.choice(DOMAINS)}"
    while email in taken:
        email = f"{user}{rng.randint(1, 9999)}@{rng.choice(DOMAINS)}"
    taken.add(email)
    return email


def _phone(rng: random.Random) -> str:
    return f"{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


def _people(rng: random.Random, n: int, taken: set[str]) -> list[_Person]:
    givens = list(GIVEN) + PLAIN_GIVEN
    surnames = _surnames(rng, max(200, n // 40))
    weights = [1.0 / (i + 5) for i in range(len(surnames))]  # Zipf-like: common names are common
    out: list[_Person] = []
    household: tuple[str, tuple[str, str, str]] | None = None
    for pid in range(n):
        p = _Person()
        p.pid = pid
        p.given = rng.choice(givens)
        if household is not None and rng.random() < 0.45:  # another member of the last household
            p.surname = household[0] if rng.random() < 0.8 else rng.choices(surnames, weights)[0]
            p.address = household[1]
            if rng.random() < 0.5:
                household = None
        else:
            p.surname = rng.choices(surnames, weights)[0]
            p.address = _address(rng)
            household = (p.surname, p.address) if rng.random() < 0.35 else None
        p.dob = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
        p.email = _email(rng, p.given, p.surname, taken)
        p.phone = _phone(rng)
        out.append(p)
    return out


def _record(rng: random.Random, p: _Person, source: str, sid: int, when: datetime, taken: set[str]) -> dict:
    given, surname = p.given, p.surname
    if given in GIVEN and rng.random() < NOISE["nickname"]:
        given = rng.choice(GIVEN[given])
    if rng.random() < NOISE["typo_given"]:
        given = _typo(rng, given)
    if rng.random() < NOISE["typo_surname"]:
        surname = _typo(rng, surname)
    email = _email(rng, p.given, p.surname, taken) if rng.random() < NOISE["new_email"] else p.email
    phone = _phone(rng) if rng.random() < NOISE["new_phone"] else p.phone
    street, city, postcode = _address(rng) if rng.random() < NOISE["moved"] else p.address
    dob = p.dob.isoformat()
    if rng.random() < NOISE["dob_typo"]:
        d = p.dob
        dob = (date(d.year, d.day, d.month) if d.day <= 12 else d.replace(day=max(1, d.day - 1))).isoformat()
    rec = {"record_id": f"{source}:{sid}", "source": source, "source_id": str(sid),
           "given_name": given.title(), "surname": surname.title(), "email": email,
           "phone": f"({phone[:3]}) {phone[3:6]}-{phone[6:]}" if rng.random() < 0.5 else phone,
           "street": street.title(), "city": city.title(), "postcode": postcode, "dob": dob,
           "updated_at": when, "person_id": f"P{p.pid}"}
    for field in ("email", "phone", "street", "dob", "given_name"):
        if rng.random() < NOISE["missing"] / (2 if field in ("given_name", "dob") else 1):
            rec[field] = None
    if rec["street"] is None:
        rec["city"] = rec["postcode"] = None
    return rec


SCHEMA = pa.schema(
    [(c, pa.string()) for c in ("record_id", "source", "source_id", "given_name", "surname", "email", "phone",
                                "street", "city", "postcode", "dob")]
    + [("updated_at", pa.timestamp("us", tz="UTC")), ("person_id", pa.string())]
)


def generate(n_records: int, seed: int = 0, records_per_person: float = 2.5) -> pa.Table:
    """``n_records`` source records of about ``n_records / records_per_person`` people; the
    ``person_id`` column is the ground truth."""
    rng = random.Random(seed)
    taken: set[str] = set()
    people = _people(rng, max(1, int(n_records / records_per_person)), taken)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    counters = dict.fromkeys(SOURCES, 0)
    rows = []
    for p in people:  # every person at least once
        rows.append((p, rng.choice(SOURCES)))
    while len(rows) < n_records:
        rows.append((rng.choice(people), rng.choice(SOURCES)))
    rng.shuffle(rows)
    out = []
    for p, source in rows[:n_records]:
        counters[source] += 1
        when = start + timedelta(seconds=rng.randrange(2 * 365 * 86400))
        out.append(_record(rng, p, source, counters[source], when, taken))
    return pa.Table.from_pylist(out, schema=SCHEMA)
