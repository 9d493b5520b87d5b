"""Consistent, realistic surrogates: the same value gets the same pseudonym everywhere in a dataset.

Each surrogate is drawn from a Faker seeded by ``HMAC(dataset seed, entity type, normalised value)``,
so no table has to be shared between processes and a re-run with the same seed gives the same output.
Names keep their shape: each part of a name is mapped on its own (given name → given name, surname →
surname), so ``Priya Raman`` and a later ``Priya`` stay the same person.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from faker import Faker

# Secrets are never replaced by something that looks like a working credential.
PLACEHOLDER_ONLY = frozenset({"API_KEY", "BEARER_TOKEN", "PRIVATE_KEY", "PASSWORD"})

_MAKERS: dict[str, Callable[[Faker], str]] = {
    "EMAIL_ADDRESS": lambda f: f.email(),
    "PHONE_NUMBER": lambda f: f.phone_number(),
    "CREDIT_CARD": lambda f: f.credit_card_number(),
    "US_SSN": lambda f: f.ssn(),
    "IBAN_CODE": lambda f: f.iban(),
    "IP_ADDRESS": lambda f: f.ipv4_private(),
    "STREET_ADDRESS": lambda f: f.street_address(),
    "LOCATION": lambda f: f.city(),
    "NATIONAL_ID": lambda f: f.bothify("??######?").upper(),
}


class Pseudonymizer:
    """Surrogates for one dataset (one seed)."""

    def __init__(self, seed: str) -> None:
        self._key = seed.encode("utf-8")
        self._faker = Faker("en_US")

    def _seeded(self, entity: str, value: str) -> Faker:
        digest = hmac.new(self._key, f"{entity}\x00{value}".encode(), hashlib.sha256).digest()
        self._faker.seed_instance(int.from_bytes(digest[:8], "big"))
        return self._faker

    def surrogate(self, entity: str, value: str) -> str:
        """The pseudonym of ``value`` (typed placeholder for secrets and types without a generator)."""
        if entity in PLACEHOLDER_ONLY:
            return f"<{entity}>"
        if entity == "PERSON":
            return self._person(value)
        maker = _MAKERS.get(entity)
        if maker is None:
            return f"<{entity}>" if not entity.endswith("_ID") else self._identifier(entity, value)
        return maker(self._seeded(entity, value.strip().lower()))

    def _person(self, value: str) -> str:
        parts = value.split()
        if len(parts) == 1:
            return str(self._seeded("PERSON_FIRST", parts[0].lower()).first_name())
        first = self._seeded("PERSON_FIRST", parts[0].lower()).first_name()
        last = self._seeded("PERSON_LAST", parts[-1].lower()).last_name()
        middle = [self._seeded("PERSON_FIRST", p.lower()).first_name() for p in parts[1:-1]]
        return " ".join([first, *middle, last])

    def _identifier(self, entity: str, value: str) -> str:
        """An enterprise id keeps its shape: letters and separators stay, digits are replaced."""
        faker = self._seeded(entity, value)
        return "".join(str(faker.random_digit()) if c.isdigit() else c for c in value)
