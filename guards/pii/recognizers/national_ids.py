"""National identifiers: US SSN and several beyond the US, each with its check digit where one exists."""

from __future__ import annotations

from presidio_analyzer import Pattern

from guards.pii.recognizers.base import PiiPatternRecognizer, digits, luhn_ok


class SocialSecurityNumberRecognizer(PiiPatternRecognizer):
    """US Social Security numbers (area not 000, 666 or 9xx; group and serial not zero)."""

    ENTITY = "US_SSN"
    PATTERNS = (
        Pattern("ssn_dashed", r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])", 0.6),
        Pattern("ssn_spaced", r"(?<![\w-])\d{3} \d{2} \d{4}(?![\w-])", 0.4),
        Pattern("ssn_plain", r"(?<=(?:SSN|social security(?: number)?)(?::|\s|#|\sis\s){1,3})\d{9}\b", 0.6),
    )
    CONTEXT = ("ssn", "social", "security", "taxpayer")

    def validate_result(self, pattern_text: str) -> bool | None:
        n = digits(pattern_text)
        area, group, serial = n[:3], n[3:5], n[5:]
        if area in {"000", "666"} or area.startswith("9") or group == "00" or serial == "0000":
            return False
        return len(set(n)) > 1 and n not in {"123456789", "987654321"}


def _nino_ok(text: str) -> bool:
    prefix = text[:2].upper()
    return prefix not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"} and not set(prefix) & set("DFIQUV")


def _nhs_ok(text: str) -> bool:
    n = digits(text)
    check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(n[:9])) % 11
    return (0 if check == 11 else check) == int(n[9]) and check != 10


def _dni_ok(text: str) -> bool:
    body = text[:-1].upper().replace("X", "0").replace("Y", "1").replace("Z", "2")
    return "TRWAGMYFPDXBNJZSQVHLCKE"[int(digits(body)) % 23] == text[-1].upper()


def _bsn_ok(text: str) -> bool:
    n = digits(text)
    return len(n) == 9 and (sum(int(d) * w for d, w in zip(n, range(9, 1, -1), strict=False)) - int(n[8])) % 11 == 0


class NationalIdRecognizer(PiiPatternRecognizer):
    """Non-US national ids: UK NINO and NHS number, Spanish DNI/NIE, Dutch BSN, Canadian SIN, French
    INSEE, Italian codice fiscale, Indian Aadhaar, German tax id (with context)."""

    ENTITY = "NATIONAL_ID"
    PATTERNS = (
        Pattern("uk_nino", r"\b[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", 0.6),
        Pattern("uk_nhs", r"(?<![\w-])\d{3} \d{3} \d{4}(?![\w-])", 0.3),
        Pattern("es_dni", r"\b(?:\d{8}|[XYZ]\d{7})-?[A-Z]\b", 0.6),
        Pattern("ca_sin", r"(?<![\w-])\d{3}[ -]\d{3}[ -]\d{3}(?![\w-])", 0.3),
        Pattern("fr_insee", r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b", 0.5),
        Pattern("it_cf", r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b", 0.7),
        Pattern("in_aadhaar", r"(?<![\w-])[2-9]\d{3} \d{4} \d{4}(?![\w-])", 0.4),
        Pattern("nl_bsn", r"(?<=(?:BSN|burgerservicenummer)(?::|\s){1,3})\d{9}\b", 0.6),
        Pattern("de_steuer_id", r"(?<=(?:Steuer-?ID|Steueridentifikationsnummer|tax id)(?::|\s){1,3})\d{11}\b", 0.6),
    )
    CONTEXT = ("national", "insurance", "nino", "nhs", "dni", "nie", "sin", "insee", "fiscal", "aadhaar", "bsn",
               "passport", "identity", "id", "social", "steuer")  # fmt: skip

    def validate_result(self, pattern_text: str) -> bool | None:
        text = pattern_text.replace(" ", "").replace("-", "")
        if text[:1].isalpha() and len(text) == 9 and text[-1] in "ABCD":
            return _nino_ok(text) or False
        if len(text) == 10 and text.isdigit():
            return _nhs_ok(text) or False
        if len(text) == 9 and text[-1].isalpha():
            return _dni_ok(text) or False
        if len(text) == 9 and text.isdigit():
            return (luhn_ok(text) or _bsn_ok(text)) or False
        return None
