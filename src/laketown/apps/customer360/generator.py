"""Synthetic customers seen through four sources, with identity noise and the ground truth.

People live in households (several share an address); each person may appear in the CRM (one
or, for 10 %, two contacts), as a web-shop account, and as a support-desk requester. Each
source copy carries noise: typos, nicknames, a changed email, phone or address, missing
fields, other formats. The shop has orders, the help desk tickets, the site events. A small
share of rows is broken on purpose (no id, impossible dates, negative amounts) so that the
quarantine has work. Deterministic for a seed; ``records`` counts identity source records.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

GIVEN = {
    "William": ["Bill", "Will", "Billy"], "Robert": ["Bob", "Rob", "Bobby"], "Elizabeth": ["Liz", "Beth", "Lizzie"],
    "Margaret": ["Maggie", "Peggy", "Meg"], "Katherine": ["Kate", "Kathy", "Katie"], "James": ["Jim", "Jimmy"],
    "Michael": ["Mike", "Mikey"], "Jennifer": ["Jen", "Jenny"], "Richard": ["Rick", "Dick", "Rich"],
    "Thomas": ["Tom", "Tommy"], "Christopher": ["Chris"], "Patricia": ["Pat", "Patty", "Trish"],
    "Alexander": ["Alex", "Sasha"], "Samantha": ["Sam", "Sammy"], "Daniel": ["Dan", "Danny"],
    "Jessica": ["Jess", "Jessie"], "Matthew": ["Matt"], "Rebecca": ["Becky", "Becca"], "Joseph": ["Joe", "Joey"],
    "Victoria": ["Vicky", "Tori"], "Nicholas": ["Nick"], "Jonathan": ["Jon", "Johnny"], "Susan": ["Sue", "Susie"],
    "Anthony": ["Tony"], "Deborah": ["Debbie", "Deb"], "Edward": ["Ed", "Eddie", "Ted"], "Andrew": ["Andy", "Drew"],
    "Barbara": ["Barb", "Babs"], "Charles": ["Charlie", "Chuck"], "Stephanie": ["Steph"],
}
GIVEN_PLAIN = ["Olivia", "Emma", "Amelia", "Noah", "Oliver", "Liam", "Mia", "Sophia", "Lucas", "Ethan", "Ava",
               "Isla", "Leo", "Hugo", "Chloe", "Zoe", "Aisha", "Omar", "Priya", "Ravi", "Mei", "Wei", "Yuki",
               "Kenji", "Sofia", "Mateo", "Ines", "Lars", "Freya", "Anya", "Ivan", "Nadia", "Tariq", "Leila",
               "Grace", "Ruby", "Jack", "Harry", "George", "Oscar", "Arthur", "Ella", "Lily", "Evie", "Finn"]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
            "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
            "Patel", "Khan", "Lewis", "James", "Phillips", "Mason", "Mitchell", "Rose", "Davis", "Rodriguez",
            "Cox", "Alexander", "Garcia", "Martinez", "Nguyen", "Kowalski", "Novak", "Schmidt", "Muller", "Rossi",
            "Ferrari", "Silva", "Santos", "Okafor", "Mensah", "Haddad", "Cohen", "Murphy", "Kelly", "Byrne",
            "Campbell", "Stewart", "Morrison", "Fraser", "Sinclair", "Lindqvist", "Jansen", "De Vries", "Ito",
            "Tanaka", "Kim", "Park", "Chen", "Wang", "Singh", "Sharma", "Ahmed", "Ali", "Hughes", "Edwards",
            "Turner", "Parker", "Collins", "Bennett", "Cooper", "Harrison", "Ward", "Morgan", "Bell", "Baker",
            "Fletcher", "Hunter", "Knight", "Lawrence", "Marshall", "Owen", "Palmer", "Reid", "Shaw", "Webb"]
STREETS = ["High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue", "Mill Lane", "King Street",
           "Queens Road", "Green Lane", "Manor Road", "Oak Drive", "Elm Grove", "Bridge Street", "The Crescent",
           "Springfield Road", "Chestnut Close", "Windsor Avenue", "Orchard Way", "Riverside", "Meadow View"]
CITIES = [("London", "E"), ("Manchester", "M"), ("Leeds", "LS"), ("Bristol", "BS"), ("Glasgow", "G"),
          ("Cardiff", "CF"), ("York", "YO"), ("Oxford", "OX"), ("Bath", "BA"), ("Brighton", "BN"),
          ("Liverpool", "L"), ("Sheffield", "S"), ("Norwich", "NR"), ("Exeter", "EX"), ("Leicester", "LE")]
DOMAINS = ["gmail.com", "yahoo.co.uk", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "btinternet.com"]
PRODUCTS = [  # (product_id, name, category, price)
    ("P01", "Trail running shoes", "sport", 89.0), ("P02", "Yoga mat", "sport", 25.0), ("P03", "Fitness tracker", "sport", 129.0),
    ("P04", "Cycling helmet", "sport", 59.0), ("P05", "Protein powder", "sport", 32.0), ("P06", "Espresso machine", "home", 249.0),
    ("P07", "Coffee beans 1kg", "home", 19.0), ("P08", "Cast iron pan", "home", 45.0), ("P09", "Linen bedding set", "home", 120.0),
    ("P10", "Scented candle", "home", 15.0), ("P11", "Noise-cancelling headphones", "electronics", 299.0),
    ("P12", "E-reader", "electronics", 139.0), ("P13", "USB-C charger", "electronics", 29.0), ("P14", "Smart speaker", "electronics", 99.0),
    ("P15", "Mechanical keyboard", "electronics", 119.0), ("P16", "Novel: The Lighthouse", "books", 12.0),
    ("P17", "Cookbook: Seasons", "books", 28.0), ("P18", "Travel guide: Japan", "books", 22.0), ("P19", "Kids picture book", "books", 9.0),
    ("P20", "Wool jumper", "fashion", 75.0), ("P21", "Rain jacket", "fashion", 110.0), ("P22", "Leather wallet", "fashion", 45.0),
    ("P23", "Sunglasses", "fashion", 65.0), ("P24", "Gift card", "gifts", 50.0),
]
TICKET_SUBJECTS = ["Where is my order?", "Refund request", "Damaged item", "Cannot log in", "Change delivery address",
                   "Wrong size", "Payment declined", "Cancel my order", "Question about warranty", "Unsubscribe me"]
EVENT_TYPES = ["page_view", "product_view", "search", "add_to_cart", "login"]
#: behaviour profiles: (share, orders per year, months since last activity range, basket multiplier)
BEHAVIOURS = {"loyal": (0.2, 9.0, (0, 2), 1.6), "regular": (0.35, 4.0, (0, 6), 1.0),
              "occasional": (0.3, 1.2, (2, 12), 0.8), "lapsed": (0.15, 2.0, (12, 22), 1.0)}
EPOCH = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@dataclass
class Sources:
    """What the generator made: rows per source, in the shape each source system holds them."""

    crm: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    truth: list[dict[str, str]] = field(default_factory=list)  # record_id -> person_id
    persons: int = 0

    @property
    def records(self) -> int:
        """Identity source records (CRM contacts, shop accounts, support requesters)."""
        return len(self.truth)


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 3:
        return s
    i = rng.randrange(1, len(s) - 1)
    op = rng.random()
    if op < 0.34:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]  # swap
    if op < 0.67:
        return s[:i] + s[i + 1:]  # drop
    return s[:i] + rng.choice("aeioulnrst") + s[i + 1:]  # replace


def _phone_format(rng: random.Random, digits: str) -> str:
    style = rng.random()
    if style < 0.4:
        return digits
    if style < 0.7:
        return f"+44 {digits[1:5]} {digits[5:]}"
    return f"({digits[:5]}) {digits[5:]}"


@dataclass
class _Person:
    pid: str
    given: str
    surname: str
    dob: str
    email: str
    phone: str
    street: str
    city: str
    postcode: str
    behaviour: str


def _people(rng: random.Random, n: int) -> list[_Person]:
    out: list[_Person] = []
    given_all = list(GIVEN) + GIVEN_PLAIN
    while len(out) < n:
        city, area = rng.choice(CITIES)
        street = f"{rng.randint(1, 240)} {rng.choice(STREETS)}"
        postcode = f"{area}{rng.randint(1, 28)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        family = rng.choice(SURNAMES)
        size = rng.choices([1, 2, 3, 4], weights=[50, 30, 12, 8])[0]
        for _ in range(min(size, n - len(out))):
            i = len(out)
            given = rng.choice(given_all)
            surname = family if rng.random() < 0.85 else rng.choice(SURNAMES)
            dob = dt.date(rng.randint(1945, 2006), rng.randint(1, 12), rng.randint(1, 28)).isoformat()
            email = f"{given.lower()}.{surname.lower().replace(' ', '')}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
            phone = "07" + f"{rng.randint(0, 999_999_999):09d}"
            behaviour = rng.choices(list(BEHAVIOURS), weights=[b[0] for b in BEHAVIOURS.values()])[0]
            out.append(_Person(f"T{i:07d}", given, surname, dob, email, phone, street, city, postcode, behaviour))
    return out


def _noisy(rng: random.Random, p: _Person, noise: float) -> dict[str, Any]:
    given, surname, email, phone = p.given, p.surname, p.email, p.phone
    street, city, postcode, dob = p.street, p.city, p.postcode, p.dob
    if given in GIVEN and rng.random() < 0.25 * noise:
        given = rng.choice(GIVEN[given])
    if rng.random() < 0.15 * noise:
        given = _typo(rng, given)
    if rng.random() < 0.12 * noise:
        surname = _typo(rng, surname)
    if rng.random() < 0.12 * noise:
        email = f"{given.lower()[:1]}{surname.lower().replace(' ', '')}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
    if rng.random() < 0.1 * noise:
        phone = "07" + f"{rng.randint(0, 999_999_999):09d}"
    if rng.random() < 0.06 * noise:  # moved house
        city, area = rng.choice(CITIES)
        street, postcode = f"{rng.randint(1, 240)} {rng.choice(STREETS)}", f"{area}{rng.randint(1, 28)} 1AB"
    if rng.random() < 0.3 * noise:
        given, surname = given.upper() if rng.random() < 0.5 else given.lower(), surname.upper() if rng.random() < 0.5 else surname
    rec = {"given": given, "surname": surname, "email": email, "phone": _phone_format(rng, phone),
           "street": street, "city": city, "postcode": postcode, "dob": dob}
    for name, share in (("phone", 0.15), ("dob", 0.25), ("street", 0.1), ("email", 0.08)):
        if rng.random() < share * noise:
            rec[name] = ""
    return rec


def _ts(rng: random.Random, months_back: tuple[float, float]) -> dt.datetime:
    days = rng.uniform(months_back[0] * 30.4, months_back[1] * 30.4)
    return EPOCH - dt.timedelta(days=days, seconds=rng.randint(0, 86_399))


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(records: int = 10_000, seed: int = 7, noise: float = 1.0, bad_share: float = 0.005, batch: int = 0,
             activity: bool = True) -> Sources:
    """About ``records`` identity source records over ``records / 1.75`` people, with orders,
    tickets, events, the ground truth and ``bad_share`` of broken rows. ``batch`` > 0 makes a
    later delivery: new ids (prefixed ``<batch>-``) and times ``batch`` x 30 days later, as a
    source system would show after a month of new business. ``activity=False`` leaves out
    orders and events (identity-only runs at 1M records)."""
    global EPOCH
    rng = random.Random(seed * 1000 + batch)
    out = Sources()
    base_epoch = EPOCH
    EPOCH = base_epoch + dt.timedelta(days=30 * batch)
    try:
        _fill(rng, out, records, noise, bad_share, activity)
    finally:
        EPOCH = base_epoch
    if batch:
        _later_delivery(rng, out, f"{batch}-", base_epoch + dt.timedelta(days=30 * batch))
    return out


def _later_delivery(rng: random.Random, out: Sources, p: str, now: dt.datetime) -> None:
    """New ids, and rows written in the last 30 days (what a source's cursor column shows)."""
    for rows in (out.accounts, out.orders, out.tickets):
        for r in rows:
            r["updated_at"] = _iso(now - dt.timedelta(days=rng.uniform(0, 29)))
    for r in out.crm:
        r["contact_id"] = p + r["contact_id"] if r["contact_id"] else r["contact_id"]
    for r in out.accounts:
        r["account_id"] = p + r["account_id"]
    for r in out.orders:
        r["order_id"], r["account_id"] = p + r["order_id"], p + r["account_id"]
    for r in out.tickets:
        r["id"] = p + r["id"]
        r["requester"] = {**r["requester"], "id": p + r["requester"]["id"]}
    for r in out.events:
        r["event_id"], r["account_id"], r["session_id"] = p + r["event_id"], p + r["account_id"], p + r["session_id"]
    for r in out.truth:
        source, _, sid = r["record_id"].partition(":")
        r["record_id"], r["person_id"] = f"{source}:{p}{sid}", p + r["person_id"]
    for r in out.crm:
        r["modified_at"] = _iso(now - dt.timedelta(days=rng.uniform(0, 29))) if r["modified_at"] != "yesterday" else r["modified_at"]


def _fill(rng: random.Random, out: Sources, records: int, noise: float, bad_share: float, activity: bool) -> None:
    people = _people(rng, max(1, int(records / 1.75)))
    out.persons = len(people)
    support_seq = 0
    for p in people:
        months = BEHAVIOURS[p.behaviour][2]
        if rng.random() < 0.72:
            for _ in range(2 if rng.random() < 0.1 else 1):
                r = _noisy(rng, p, noise)
                cid = f"C{len(out.crm):07d}"
                out.crm.append({"contact_id": cid, "first_name": r["given"], "last_name": r["surname"], "email": r["email"],
                                "phone": r["phone"], "address_line": r["street"], "city": r["city"], "zip": r["postcode"],
                                "birth_date": r["dob"], "modified_at": _iso(_ts(rng, (0, 24)))})
                out.truth.append({"record_id": f"crm:{cid}", "person_id": p.pid})
        if rng.random() < 0.62:
            r = _noisy(rng, p, noise)
            aid = f"A{len(out.accounts):07d}"
            created = _ts(rng, (months[1] + 2, months[1] + 26))
            out.accounts.append({"account_id": aid, "email": r["email"], "first_name": r["given"], "last_name": r["surname"],
                                 "phone": r["phone"], "street": r["street"], "city": r["city"], "postcode": r["postcode"],
                                 "birth_date": r["dob"], "created_at": _iso(created), "updated_at": _iso(created)})
            out.truth.append({"record_id": f"shop:{aid}", "person_id": p.pid})
            if activity:
                _orders(rng, out, aid, p.behaviour, created)
        if rng.random() < 0.33:
            r = _noisy(rng, p, noise)
            support_seq += 1
            rid = f"R{support_seq:07d}"
            name = f"{r['given']} {r['surname']}".strip()
            for _ in range(rng.choice([1, 1, 2, 3])):
                t = _ts(rng, months)
                out.tickets.append({"id": f"TK{len(out.tickets):07d}", "subject": rng.choice(TICKET_SUBJECTS),
                                    "status": rng.choice(["open", "pending", "solved", "solved", "closed"]),
                                    "priority": rng.choice(["low", "normal", "normal", "high", "urgent"]),
                                    "channel": rng.choice(["email", "chat", "phone", "web"]),
                                    "requester": {"id": rid, "name": name, "email": r["email"], "phone": r["phone"]},
                                    "created_at": _iso(t), "updated_at": _iso(t + dt.timedelta(hours=rng.randint(1, 96)))})
            out.truth.append({"record_id": f"support:{rid}", "person_id": p.pid})
    _break_some(rng, out, bad_share)


def _orders(rng: random.Random, out: Sources, aid: str, behaviour: str, created: dt.datetime) -> None:
    _, per_year, months, basket = BEHAVIOURS[behaviour]
    last = _ts(rng, months)
    span_years = max((last - created).days / 365.0, 0.1)
    n = max(1, int(rng.expovariate(1.0 / max(per_year * span_years, 0.5))) + 1)
    favourite = rng.choice(["sport", "home", "electronics", "books", "fashion"])
    for k in range(min(n, 60)):
        when = last if k == 0 else created + (last - created) * rng.random()
        pool = [p for p in PRODUCTS if p[2] == favourite] if rng.random() < 0.6 else PRODUCTS
        pid, pname, cat, price = rng.choice(pool)
        qty = rng.choice([1, 1, 1, 2, 3])
        oid = f"O{len(out.orders):08d}"
        out.orders.append({"order_id": oid, "account_id": aid, "product_id": pid, "product_name": pname, "category": cat,
                           "quantity": qty, "amount": round(price * qty * basket * rng.uniform(0.85, 1.1), 2),
                           "ordered_at": _iso(when), "updated_at": _iso(when)})
        for _ in range(rng.randint(0, 2)):
            ev_t = when - dt.timedelta(minutes=rng.randint(1, 600))
            out.events.append({"event_id": f"E{len(out.events):09d}", "account_id": aid, "session_id": f"S{oid}",
                               "event_type": rng.choice(EVENT_TYPES), "product_id": pid, "ts": _iso(ev_t)})


def _break_some(rng: random.Random, out: Sources, share: float) -> None:
    """Rows a real feed would contain: no id, impossible dates, negative amounts, no contact data."""
    for rows, breaks in ((out.crm, [("contact_id", ""), ("birth_date", "1987-02-31"), ("modified_at", "yesterday")]),
                         (out.accounts, [("birth_date", "31/31/1990"), ("email", "not-an-email")]),
                         (out.orders, [("amount", -5.0), ("ordered_at", "soon")])):
        for i in rng.sample(range(len(rows)), k=min(len(rows), int(len(rows) * share))):
            key, value = rng.choice(breaks)
            rows[i][key] = value
    for i in rng.sample(range(len(out.tickets)), k=min(len(out.tickets), int(len(out.tickets) * share))):
        out.tickets[i]["requester"] = {**out.tickets[i]["requester"], "name": "", "email": "", "phone": ""}
