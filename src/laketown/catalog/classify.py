"""PII classification of columns from their names and a sample of their values.

Classes: email, phone, card_number, ip_address, person_name, street_address, date_of_birth.
A column is classified when at least 80 % of its non-null sampled values match the class's
pattern, or when its name says so and the values do not contradict it (at least 30 % match,
or no values yet). Names alone never classify a column whose values clearly say otherwise.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa

CLASSES = ("email", "phone", "card_number", "ip_address", "person_name", "street_address", "date_of_birth")
SAMPLE_THRESHOLD = 0.8
NAME_THRESHOLD = 0.3

_NAME_HINTS = [
    ("email", re.compile(r"(^|_)(e_?mail|mail|email_address)($|_)")),
    ("phone", re.compile(r"(^|_)(phone|mobile|tel|telephone|msisdn|cell|fax)($|_)")),
    ("card_number", re.compile(r"(^|_)(card|cc|pan|credit_card|card_number|ccnum|cc_number)($|_)")),
    ("ip_address", re.compile(r"(^|_)(ip|ipv4|ipv6|ip_address|ip_addr|client_ip|remote_addr)($|_)")),
    ("date_of_birth", re.compile(r"(^|_)(dob|birth|birthday|birthdate|date_of_birth|born)($|_)")),
    ("street_address", re.compile(r"(^|_)(address|street|addr|address_line\d?|street_address)($|_)")),
    ("person_name", re.compile(r"(^|_)(name|first_name|last_name|full_name|surname|given_name|firstname|lastname|"
                               r"fullname|customer_name|contact_name|holder)($|_)")),
]
#: names that contain a hint word but are not personal data
_NOT_PERSONAL = re.compile(r"(^|_)(product|file|table|column|item|company|city|country|brand|host|domain|"
                           r"user_?name|event|device|app|model|category|segment|campaign|street_name)(_|$)")

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,22}$")
_CARD = re.compile(r"^[\d\s-]{12,23}$")
_STREET_WORDS = (r"street|st|avenue|ave|road|rd|lane|ln|boulevard|blvd|drive|dr|court|ct|way|place|pl|square|sq|"
                 r"terrace|close|crescent|highway|hwy|parkway|pkwy|alley|row|rue|strasse|straße|weg|via|calle")
_STREET = re.compile(rf"^\d+[A-Za-z]?,?\s+(?:[A-Za-zÀ-ÿ'.-]+\s+)*?(?:{_STREET_WORDS})\.?\b", re.IGNORECASE)
_STREET_PREFIX = re.compile(rf"^(?:{_STREET_WORDS})\s+[A-Za-zÀ-ÿ' .-]+,?\s*\d+", re.IGNORECASE)
_PERSON = re.compile(r"^(?:(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+)?[A-ZÀ-Ý][a-zà-ÿ'-]+(?:\s+[A-ZÀ-Ý][a-zà-ÿ'.-]*){1,3}$")
_PERSON_LAST_FIRST = re.compile(r"^[A-ZÀ-Ý][a-zà-ÿ'-]+,\s*[A-ZÀ-Ý][a-zà-ÿ'-]+$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$|^(\d{2})/(\d{2})/(\d{4})$")
_FIRST_NAMES = frozenset(["james", "john", "robert", "michael", "william", "david", "richard", "joseph", "thomas", "charles", "christopher", "daniel", "matthew", "anthony", "mark", "donald", "steven", "paul", "andrew", "joshua", "kenneth", "kevin", "brian", "george", "timothy", "ronald", "edward", "jason", "jeffrey", "ryan", "jacob", "gary", "nicholas", "eric", "jonathan", "stephen", "larry", "justin", "scott", "brandon", "benjamin", "samuel", "gregory", "alexander", "frank", "patrick", "raymond", "jack", "dennis", "jerry", "tyler", "aaron", "jose", "adam", "nathan", "henry", "douglas", "zachary", "peter", "kyle", "noah", "ethan", "jeremy", "walter", "christian", "keith", "roger", "terry", "austin", "sean", "gerald", "carl", "harold", "dylan", "arthur", "lawrence", "jordan", "jesse", "bryan", "billy", "bruce", "gabriel", "joe", "logan", "alan", "juan", "albert", "willie", "elijah", "wayne", "randy", "vincent", "mason", "roy", "ralph", "bobby", "russell", "bradley", "philip", "eugene", "mary", "patricia", "jennifer", "linda", "elizabeth", "barbara", "susan", "jessica", "sarah", "karen", "lisa", "nancy", "betty", "sandra", "margaret", "ashley", "kimberly", "emily", "donna", "michelle", "carol", "amanda", "melissa", "deborah", "stephanie", "dorothy", "rebecca", "sharon", "laura", "cynthia", "amy", "kathleen", "angela", "shirley", "brenda", "emma", "anna", "pamela", "nicole", "samantha", "katherine", "christine", "helen", "debra", "rachel", "carolyn", "janet", "maria", "catherine", "heather", "diane", "olivia", "julie", "joyce", "victoria", "ruth", "virginia", "lauren", "kelly", "christina", "joan", "evelyn", "judith", "andrea", "hannah", "megan", "cheryl", "jacqueline", "martha", "madison", "teresa", "gloria", "sara", "janice", "ann", "kathryn", "abigail", "sophia", "frances", "jean", "alice", "judy", "isabella", "julia", "grace", "amber", "denise", "danielle", "marilyn", "beverly", "charlotte", "natalie", "theresa", "diana", "brittany", "doris", "kayla", "alexis", "lori", "marie", "louis", "pierre", "jean", "luc", "camille", "chloe", "lea", "manon", "ines", "jules", "hugo", "lucas", "leo", "gabriel", "arthur", "louise", "alice", "mila", "lina", "rose", "anna", "ana", "sofia", "lucia", "martina", "valentina", "giulia", "francesca", "marco", "luca", "matteo", "alessandro", "lorenzo", "andrea", "hans", "klaus", "jurgen", "wolfgang", "stefan", "thomas", "anja", "petra", "sabine", "ursula", "monika", "lukas", "felix", "maximilian", "leon", "paul", "finn", "elias", "mohammed", "mohamed", "ahmed", "ali", "fatima", "aisha", "omar", "yusuf", "hassan", "wei", "li", "ming", "hiroshi", "yuki", "haruto", "sakura", "raj", "priya", "amit", "anil", "sunita", "carlos", "miguel", "javier", "pablo", "diego", "alejandro", "carmen", "isabel", "lucia", "elena", "olga", "ivan", "dmitri", "sergei", "natasha", "svetlana", "ingrid", "lars", "erik", "sven", "nils", "astrid", "freya", "bob", "alice", "carol", "dave", "erin", "eve"])


@dataclass(frozen=True)
class Classification:
    column: str
    pii: str
    confidence: float
    source: str  # name | sample | name+sample


def _luhn(digits: str) -> bool:
    total, double = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if double:
            d = d * 2 - 9 if d > 4 else d * 2
        total, double = total + d, not double
    return total % 10 == 0


def _is_phone(v: str) -> bool:
    if not _PHONE.match(v) or _is_ip(v) or _DATE.match(v):
        return False
    digits = re.sub(r"\D", "", v)
    if not 7 <= len(digits) <= 15:
        return False
    # a bare run of digits is an id or an amount unless it starts like an international number
    return bool(re.search(r"[\s().+-]", v)) or v.startswith(("0", "+"))


def _is_card(v: str) -> bool:
    if not _CARD.match(v):
        return False
    digits = re.sub(r"\D", "", v)
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _is_ip(v: str) -> bool:
    if not (v.count(".") == 3 or ":" in v):
        return False
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True


def _is_street(v: str) -> bool:
    return bool(_STREET.match(v) or _STREET_PREFIX.match(v))


def _is_person(v: str) -> bool:
    if _PERSON_LAST_FIRST.match(v):
        return v.split(",")[1].strip().lower() in _FIRST_NAMES
    if re.fullmatch(r"[A-ZÀ-Ý][a-zà-ÿ'-]+", v):  # a given name alone
        return v.lower() in _FIRST_NAMES
    if not _PERSON.match(v) or _is_street(v):
        return False
    words = [w.strip(".").lower() for w in v.split()]
    words = words[1:] if words[0] in ("mr", "mrs", "ms", "dr", "prof") else words
    return words[0] in _FIRST_NAMES


def _as_date(v: object) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        m = _DATE.match(v.strip())
        if m:
            try:
                if m.group(1):
                    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                return date(int(m.group(6)), int(m.group(5)), int(m.group(4)))
            except ValueError:
                return None
    return None


def _birth_dates_rate(values: list[object], today: date) -> float:
    """Dates that look like birth dates: all in the past, ages 0-110, spread over decades."""
    dates = [_as_date(v) for v in values]
    good = [d for d in dates if d is not None and d <= today and today.year - d.year <= 110]
    if not good or len(good) < 0.8 * len(values):
        return 0.0
    years = sorted(today.year - d.year for d in good)
    spread, median = years[-1] - years[0], years[len(years) // 2]
    return len(good) / len(values) if (spread >= 15 or len(good) < 5) and median >= 16 else 0.0


_TESTS = {
    "email": lambda v: bool(_EMAIL.match(v)),
    "phone": _is_phone,
    "card_number": _is_card,
    "ip_address": _is_ip,
    "street_address": _is_street,
    "person_name": _is_person,
}


_SPECIFICITY = ("card_number", "ip_address", "email", "date_of_birth", "street_address", "phone", "person_name")


def name_hint(column: str) -> str | None:
    """The PII class a column's name suggests, if any."""
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", column).lower()
    if _NOT_PERSONAL.search(name):
        return None
    for pii, pattern in _NAME_HINTS:
        if pattern.search(name):
            return pii
    return None


def rates(values: list[object], today: date | None = None) -> dict[str, float]:
    """Share of values matching each class."""
    today = today or date.today()
    out = {"date_of_birth": _birth_dates_rate(values, today)}
    texts = [str(v).strip() for v in values if isinstance(v, (str, int)) and not isinstance(v, bool)]
    for pii, test in _TESTS.items():
        out[pii] = sum(1 for t in texts if test(t)) / len(values) if texts else 0.0
    return out


def classify_column(column: str, values: list[object], today: date | None = None) -> Classification | None:
    """Classify one column from its name and its sampled non-null values."""
    hint = name_hint(column)
    values = [v for v in values if v is not None and v != ""]
    if not values:
        return Classification(column, hint, 0.6, "name") if hint else None
    scores = rates(values, today)
    # on a tie the more specific pattern wins (a card number is also a run of digits)
    best = max(_SPECIFICITY, key=lambda k: scores.get(k, 0.0))
    if hint and scores.get(hint, 0) >= NAME_THRESHOLD and (scores[hint] >= scores[best] or scores[best] < SAMPLE_THRESHOLD):
        return Classification(column, hint, round(min(1.0, 0.5 + scores[hint] / 2), 3), "name+sample")
    if scores[best] >= SAMPLE_THRESHOLD:
        return Classification(column, best, round(scores[best], 3), "sample")
    return None


def classify_table(table: pa.Table, sample_rows: int = 1000) -> list[Classification]:
    """Classify every column of an Arrow table from up to ``sample_rows`` non-null values each."""
    out = []
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t) or pa.types.is_nested(t):
            continue  # measures and structures: not one of the classes
        values = col.drop_null().slice(0, sample_rows).to_pylist()
        result = classify_column(name, values)
        if result is not None:
            out.append(result)
    return out
