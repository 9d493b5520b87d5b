"""One table per recognizer: what it must flag (exact span) and what it must leave alone."""

from __future__ import annotations

import pytest

from guards.pii.engine import PiiEngine


def _found(engine: PiiEngine, text: str) -> set[tuple[str, str]]:
    return {(r.entity_type, text[r.start : r.end]) for r in engine.analyze(text)}


FLAGGED = [
    # email: public suffix required
    ("EMAIL_ADDRESS", "Mail jane.doe+hr@example.co.uk today", "jane.doe+hr@example.co.uk"),
    ("EMAIL_ADDRESS", "contact: o'brien@northwind-corp.com", "o'brien@northwind-corp.com"),
    # ...or an enterprise's private-use name (no public suffix holds it, the person is as real)
    ("EMAIL_ADDRESS", "write to jane.roe@mail.corp.internal", "jane.roe@mail.corp.internal"),
    ("EMAIL_ADDRESS", "HR: k.tanaka@hq.northwind.local", "k.tanaka@hq.northwind.local"),
    # phone: international, US, UK, French layouts
    ("PHONE_NUMBER", "Call +44 20 7946 0958 now", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "Call (202) 555-0173 now", "(202) 555-0173"),
    ("PHONE_NUMBER", "mobile 202.555.0173", "202.555.0173"),
    ("PHONE_NUMBER", "ring 1-800-555-0199 ext. 42", "1-800-555-0199 ext. 42"),
    ("PHONE_NUMBER", "Tel: 020 7946 0958", "020 7946 0958"),
    ("PHONE_NUMBER", "Portable 06 12 34 56 78", "06 12 34 56 78"),
    ("PHONE_NUMBER", "Whatsapp +49 (0)30 1234567", "+49 (0)30 1234567"),
    # cards: Luhn and issuer prefix
    ("CREDIT_CARD", "card 4111 1111 1111 1111 expired", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "Amex 3782 822463 10005", "3782 822463 10005"),
    ("CREDIT_CARD", "paid with 5555555555554444", "5555555555554444"),
    # IBAN: length and mod 97
    ("IBAN_CODE", "IBAN DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00"),
    ("IBAN_CODE", "to GB29NWBK60161331926819.", "GB29NWBK60161331926819"),
    # SSN
    ("US_SSN", "SSN 536-22-8714", "536-22-8714"),
    ("US_SSN", "social security number 536228714", "536228714"),
    # IP
    ("IP_ADDRESS", "login from 192.168.10.24 failed", "192.168.10.24"),
    ("IP_ADDRESS", "host 2001:db8:85a3::8a2e:370:7334 up", "2001:db8:85a3::8a2e:370:7334"),
    # national ids beyond the US
    ("NATIONAL_ID", "NINO AB 12 34 56 C on file", "AB 12 34 56 C"),
    ("NATIONAL_ID", "DNI 12345678Z", "12345678Z"),
    ("NATIONAL_ID", "NHS number 943 476 5919", "943 476 5919"),
    ("NATIONAL_ID", "codice fiscale RSSMRA85T10A562S", "RSSMRA85T10A562S"),
    ("NATIONAL_ID", "BSN 111222333", "111222333"),
    # secrets
    ("API_KEY", "export OPENAI_API_KEY=sk-proj-Zq8Lw3Nf5Rt1Yp7Hs2Kd9Vb", "sk-proj-Zq8Lw3Nf5Rt1Yp7Hs2Kd9Vb"),
    ("API_KEY", "aws AKIAIOSFODNN7EXAMPLE key", "AKIAIOSFODNN7EXAMPLE"),
    ("API_KEY", "token ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),
    ("API_KEY", 'api_key: "9fQ2xL7pR4tW8zK1mN3b"', "9fQ2xL7pR4tW8zK1mN3b"),
    ("BEARER_TOKEN", "Authorization: Bearer abcDEF123ghiJKL456mnoPQR", "abcDEF123ghiJKL456mnoPQR"),
    (
        "BEARER_TOKEN",
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlX3NpZw",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlX3NpZw",
    ),
    (
        "PRIVATE_KEY",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    ),
    ("PASSWORD", "db password: Tr0ub4dor&3 for prod", "Tr0ub4dor&3"),
    ("PASSWORD", "the wifi password is Summer2024!", "Summer2024!"),
    # addresses
    (
        "STREET_ADDRESS",
        "ship to 1600 Pennsylvania Ave NW, Washington, DC 20500 asap",
        "1600 Pennsylvania Ave NW, Washington, DC 20500",
    ),
    ("STREET_ADDRESS", "lives at 742 Evergreen Terrace, Springfield", "742 Evergreen Terrace, Springfield"),
    ("STREET_ADDRESS", "Büro in der Hauptstraße 12 in Berlin", "Hauptstraße 12"),
    ("STREET_ADDRESS", "au 12 rue de la Paix", "12 rue de la Paix"),
    # enterprise ids from policy
    ("EMPLOYEE_ID", "employee EMP-204518 joined", "EMP-204518"),
    ("CUSTOMER_ID", "customer CUST-00012345 called", "CUST-00012345"),
    # names without NER: honorifics, greetings, signatures, context, name lists
    ("PERSON", "Please ask Dr. Amara Okafor first", "Amara Okafor"),
    ("PERSON", "Dear Siobhan Kelly,\nthanks", "Siobhan Kelly"),
    ("PERSON", "See you soon.\nKind regards,\nMateusz Kowalski", "Mateusz Kowalski"),
    ("PERSON", "assigned to Wei Zhang yesterday", "Wei Zhang"),
    ("PERSON", "The review with Olivia Martin went well", "Olivia Martin"),
    ("PERSON", "Please cc 後藤 直人 on the contract", "後藤 直人"),
    ("PERSON", "Owner: 王秀英 (Shanghai office)", "王秀英"),
    ("PERSON", "Escalated to 김민준 yesterday", "김민준"),
]


@pytest.mark.parametrize(("entity", "text", "value"), FLAGGED, ids=[f"{e}:{v[:24]}" for e, _, v in FLAGGED])
def test_recognizer_flags_the_exact_value(patterns_engine: PiiEngine, entity: str, text: str, value: str) -> None:
    assert (entity, value) in _found(patterns_engine, text)


NOT_PII = [
    "Release 2.14.3 ships on 2024-03-15.",
    "Order ORD-2024-558812 was shipped in 3 boxes.",
    "Product code A-1234-5678 replaces SKU 99812-B.",
    "The build took 1,234,567 ms on node 7.",
    "Invoice 4111 1111 1111 1112 is not a card (bad Luhn).",
    "Account GB29NWBK60161331926818 has a bad checksum.",
    "SSN 000-12-3456 and 666-12-3456 are never issued.",
    "Version 10.2.300.1 of the agent.",
    "Meeting at 10:30 on 12/05/2024 in room 4.",
    "password: ******** was masked",
    "Set api_key to your own value.",
    "The May release adds Will's feature to the Main menu.",
    "Contact support@example.invalid for help.",
]


@pytest.mark.parametrize("text", NOT_PII)
def test_negatives_are_not_flagged(patterns_engine: PiiEngine, text: str) -> None:
    assert _found(patterns_engine, text) == set()


def test_a_name_found_once_is_flagged_everywhere_in_the_text(patterns_engine: PiiEngine) -> None:
    text = "Dr. Amara Okafor approved it. Later Okafor asked Amara to re-run the job."
    names = [v for e, v in _found(patterns_engine, text) if e == "PERSON"]
    assert sorted(names) == ["Amara", "Amara Okafor", "Okafor"]


def test_ner_adds_names_no_cue_reveals(engine: PiiEngine) -> None:
    text = "Yesterday Barack Obama visited the Paris office."
    assert ("PERSON", "Barack Obama") in _found(engine, text)


def test_findings_carry_no_raw_value(patterns_engine: PiiEngine) -> None:
    findings = patterns_engine.findings("SSN 536-22-8714")
    assert [(f.label, f.evidence) for f in findings] == [("US_SSN", "")]
    assert patterns_engine.inspect("SSN 536-22-8714").counts() == {"US_SSN": 1}


def test_typed_placeholders_replace_what_is_not_visible(patterns_engine: PiiEngine) -> None:
    text = "Mail jane@example.com or call (202) 555-0173, SSN 536-22-8714"
    out = patterns_engine.redact(text, visible=frozenset({"EMAIL_ADDRESS"}))
    assert out.text == "Mail jane@example.com or call <PHONE_NUMBER>, SSN <US_SSN>"
    assert out.counts == {"PHONE_NUMBER": 1, "US_SSN": 1}
