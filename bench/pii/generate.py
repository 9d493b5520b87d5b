"""The labelled PII set: sentences from our own templates filled by Faker (many locales, several
formats per entity), negatives that must not be flagged, and hand-written enterprise-style sentences.

Spans are known by construction. Templates are split into dev and test *by template*, so the test
split holds sentence shapes the recognizers were never looked at against.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from faker import Faker

from bench.pii.handwritten import HANDWRITTEN

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "pl_PL", "sv_SE", "tr_TR",
           "en_IN", "ja_JP", "zh_CN", "ko_KR", "vi_VN", "id_ID", "fi_FI", "cs_CZ", "hu_HU", "ro_RO", "yo_NG")  # fmt: skip


@dataclass
class Sample:
    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    split: str = "dev"
    source: str = "template"


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)])
    number = _luhn_complete(prefix, length, rng)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return number
    groups = [number[0:4], number[4:10], number[10:]] if length == 15 else [number[i : i + 4] for i in range(0, 16, 4)]
    return (" " if style == "space" else "-").join(groups)


def _phone(rng: random.Random) -> str:
    d = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))  # noqa: E731
    area = str(rng.randint(201, 989))
    return rng.choice([
        f"({area}) {d(3)}-{d(4)}", f"{area}-{d(3)}-{d(4)}", f"{area}.{d(3)}.{d(4)}", f"+1 {area} {d(3)} {d(4)}",
        f"+1-{area}-{d(3)}-{d(4)}", f"+44 20 {d(4)} {d(4)}", f"+44 7700 {d(6)}", f"020 {d(4)} {d(4)}",
        f"+49 30 {d(8)}", f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}", f"06 {d(2)} {d(2)} {d(2)} {d(2)}",
        f"+91 {d(5)} {d(5)}", f"1-800-{d(3)}-{d(4)}", f"+61 2 {d(4)} {d(4)}",
    ])  # fmt: skip


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    n = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    return n if rng.random() < 0.8 else n.replace("-", " ")


def _ip(rng: random.Random, fake: Faker) -> str:
    return str(fake.ipv4() if rng.random() < 0.8 else fake.ipv6())


def _secret(rng: random.Random) -> str:
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    r = lambda n: "".join(rng.choice(alnum) for _ in range(n))  # noqa: E731
    return rng.choice([f"sk-proj-{r(32)}", f"ghp_{r(36)}", f"AKIA{r(16).upper()}", f"sk_live_{r(24)}",
                       f"xoxb-{r(12)}-{r(24)}", f"glpat-{r(20)}", f"AIza{r(35)}"])  # fmt: skip


def filler(rng: random.Random, fakes: dict[str, Faker]) -> dict[str, callable]:  # type: ignore[valid-type]
    fake = fakes[rng.choice(LOCALES)]
    en = fakes["en_US"]
    return {
        "PERSON": lambda: fake.name() if rng.random() < 0.7 else f"{fake.first_name()} {fake.last_name()}",
        "EMAIL_ADDRESS": lambda: en.email() if rng.random() < 0.5 else en.company_email(),
        "PHONE_NUMBER": lambda: _phone(rng),
        "CREDIT_CARD": lambda: _card(rng),
        "US_SSN": lambda: _ssn(rng),
        "IBAN_CODE": lambda: fakes[rng.choice(["de_DE", "fr_FR", "en_GB", "es_ES", "nl_NL", "it_IT"])].iban(),  # noqa: PLW0108
        "IP_ADDRESS": lambda: _ip(rng, en),
        "API_KEY": lambda: _secret(rng),
        "STREET_ADDRESS": lambda: en.street_address() if rng.random() < 0.7 else en.address().replace("\n", ", "),
        "LOCATION": lambda: fake.city() if rng.random() < 0.5 else en.country(),
    }


TEMPLATES = [
    "Please forward the contract to {PERSON} before Friday.",
    "{PERSON} joined the platform team last month.",
    "You can reach me at {EMAIL_ADDRESS} or on {PHONE_NUMBER}.",
    "Send the invoice to {EMAIL_ADDRESS}.",
    "My number is {PHONE_NUMBER}, call after 5pm.",
    "The customer paid with card {CREDIT_CARD}.",
    "Charge {CREDIT_CARD} for the renewal.",
    "Her SSN is {US_SSN} according to the form.",
    "Employee tax record lists SSN {US_SSN}.",
    "Wire the refund to {IBAN_CODE} by Monday.",
    "Bank details: IBAN {IBAN_CODE}, reference 2291.",
    "Suspicious login from {IP_ADDRESS} was blocked.",
    "The VPN assigned {IP_ADDRESS} to the laptop.",
    "I accidentally pasted the key {API_KEY} into the channel.",
    "Rotate {API_KEY} immediately, it leaked in the logs.",
    "Ship the replacement to {STREET_ADDRESS}.",
    "The new office is at {STREET_ADDRESS}.",
    "{PERSON} moved to {LOCATION} in 2019.",
    "Thanks {PERSON}, I will call you on {PHONE_NUMBER}.",
    "Dear {PERSON},\nyour card ending in {CREDIT_CARD} was declined.",
    "Hi {PERSON}, can you confirm your email {EMAIL_ADDRESS}?",
    "Best regards,\n{PERSON}",
    "Ticket opened by {PERSON} ({EMAIL_ADDRESS}) about a billing error.",
    "Meeting notes: {PERSON} and {PERSON} reviewed the roadmap.",
    "Contact {PERSON} at {PHONE_NUMBER} for access to the building.",
    "Please update the address for {PERSON} to {STREET_ADDRESS}.",
    "The server at {IP_ADDRESS} belongs to {PERSON}'s team.",
    "Mr. {PERSON} asked for a copy of his records.",
    "Dr. {PERSON} will review the claim tomorrow.",
    "Payroll: {PERSON}, SSN {US_SSN}, IBAN {IBAN_CODE}.",
    "We flew from {LOCATION} to {LOCATION} for the summit.",
    "Escalate to {PERSON} if {EMAIL_ADDRESS} bounces.",
    "Reset the password for {EMAIL_ADDRESS} and text {PHONE_NUMBER}.",
    "Approved by {PERSON} on behalf of the finance team.",
    "{PERSON} reported that card {CREDIT_CARD} was charged twice.",
    "Delivery failed at {STREET_ADDRESS}; call {PHONE_NUMBER}.",
    "New hire {PERSON} starts in {LOCATION} next week.",
    "Audit found {API_KEY} hard-coded in the deploy script.",
    "Refund {PERSON} to account {IBAN_CODE}.",
    "Traffic spike from {IP_ADDRESS} and {IP_ADDRESS}.",
]
NEGATIVES = [
    "Release {VERSION} ships on {DATE}.",
    "Order {ORDER} was shipped in {N} boxes.",
    "Product code {SKU} replaces the old model.",
    "Upgrade the agent to version {VERSION} before {DATE}.",
    "Invoice {ORDER} totals {MONEY} and is due {DATE}.",
    "The build {BUILD} took {N} minutes on the runner.",
    "Part number {SKU} is out of stock until {DATE}.",
    "Sprint {N} closes on {DATE} with {N} tickets open.",
    "Tracking number {TRACK} was updated at 10:30.",
    "Use port {PORT} for the staging service.",
    "The quarterly report for {QUARTER} is ready.",
    "Batch {BUILD} processed {BIG} rows in {N} seconds.",
]


def _negative_fill(rng: random.Random, fake: Faker) -> dict[str, callable]:  # type: ignore[valid-type]
    return {
        "VERSION": lambda: rng.choice(
            [
                f"{rng.randint(1, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
                f"v{rng.randint(1, 9)}.{rng.randint(0, 9)}",
                f"{rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(100, 9999)}",
            ]
        ),
        "DATE": lambda: rng.choice(
            [fake.date(), fake.date(pattern="%d/%m/%Y"), fake.date(pattern="%B %d, %Y"), fake.date(pattern="%d.%m.%Y")]
        ),
        "ORDER": lambda: rng.choice(
            [
                f"ORD-{rng.randint(2019, 2026)}-{rng.randint(100000, 999999)}",
                f"#{rng.randint(10**7, 10**8)}",
                f"PO{rng.randint(10**9, 10**10)}",
                f"INV-{rng.randint(1000, 99999)}",
            ]
        ),
        "SKU": lambda: rng.choice(
            [
                f"{fake.bothify('??-####-####').upper()}",
                fake.ean13(),
                f"SKU{rng.randint(10**5, 10**6)}",
                fake.bothify("###-???-##").upper(),
            ]
        ),
        "N": lambda: str(rng.randint(2, 300)),
        "MONEY": lambda: f"${rng.randint(10, 99999):,}.{rng.randint(0, 99):02d}",
        "BUILD": lambda: f"{rng.randint(10**6, 10**8)}",
        "TRACK": lambda: rng.choice([f"1Z{fake.bothify('???######??').upper()}", f"{rng.randint(10**11, 10**12)}"]),
        "PORT": lambda: str(rng.randint(1024, 65535)),
        "QUARTER": lambda: f"Q{rng.randint(1, 4)} {rng.randint(2019, 2026)}",
        "BIG": lambda: f"{rng.randint(10**6, 10**9):,}",
    }


_SLOT = re.compile(r"\{([A-Z_]+)\}")


def fill(template: str, makers: dict[str, callable]) -> Sample:  # type: ignore[valid-type]
    text, spans, pos = "", [], 0
    for m in _SLOT.finditer(template):
        text += template[pos : m.start()]
        value = makers[m.group(1)]()
        if m.group(1) in TYPES:
            spans.append((len(text), len(text) + len(value), m.group(1)))
        text += value
        pos = m.end()
    return Sample(text + template[pos:], spans)


TYPES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS", "API_KEY",
         "STREET_ADDRESS", "LOCATION")  # fmt: skip


def generate(n_templated: int = 2000, n_negative: int = 400, seed: int = 7) -> list[Sample]:
    rng = random.Random(seed)
    fakes = {loc: Faker(loc) for loc in LOCALES}
    for i, f in enumerate(fakes.values()):
        f.seed_instance(seed + i)
    test_templates = set(rng.sample(range(len(TEMPLATES)), len(TEMPLATES) // 2))
    test_negatives = set(rng.sample(range(len(NEGATIVES)), len(NEGATIVES) // 2))
    samples = []
    for _ in range(n_templated):
        t = rng.randrange(len(TEMPLATES))
        s = fill(TEMPLATES[t], filler(rng, fakes))
        s.split = "test" if t in test_templates else "dev"
        samples.append(s)
    for _ in range(n_negative):
        t = rng.randrange(len(NEGATIVES))
        s = fill(NEGATIVES[t], _negative_fill(rng, fakes["en_US"]))
        s.split, s.source = ("test" if t in test_negatives else "dev"), "negative"
        samples.append(s)
    for i, text in enumerate(HANDWRITTEN):
        s = parse_marked(text)
        s.split, s.source = ("test" if i % 2 else "dev"), "handwritten"
        samples.append(s)
    return samples


_MARK = re.compile(r"\[([A-Z_]+):([^\]]+)\]")


def parse_marked(marked: str) -> Sample:
    """``[PERSON:Dana Whitfield] approved it`` → the text and its spans."""
    text, spans, pos = "", [], 0
    for m in _MARK.finditer(marked):
        text += marked[pos : m.start()]
        spans.append((len(text), len(text) + len(m.group(2)), m.group(1)))
        text += m.group(2)
        pos = m.end()
    return Sample(text + marked[pos:], spans)
