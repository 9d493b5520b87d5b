"""Payment card numbers (Luhn) and IBANs (mod 97)."""

from __future__ import annotations

from presidio_analyzer import Pattern

from guards.pii.recognizers.base import PiiPatternRecognizer, digits, luhn_ok

# Issuer prefixes: Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37, Discover 6011/64x/65,
# JCB 35, Diners 36/38/30. A 16-digit order number that happens to pass Luhn still needs one of these.
_ISSUER = r"(?:4\d|5[1-5]|2[2-7]|3[4-8]|30|6[045])"


class CardNumberRecognizer(PiiPatternRecognizer):
    """13-19 digit card numbers, grouped by spaces or dashes or not at all, with a valid Luhn digit."""

    ENTITY = "CREDIT_CARD"
    PATTERNS = (
        Pattern("card_grouped", rf"(?<![\w-]){_ISSUER}\d{{2}}(?:[ -]\d{{4}}){{2}}[ -]\d{{1,7}}(?![\w-])", 0.5),
        Pattern("card_amex", r"(?<![\w-])3[47]\d{2}[ -]\d{6}[ -]\d{5}(?![\w-])", 0.5),
        Pattern("card_plain", rf"(?<![\w-]){_ISSUER}\d{{11,17}}(?![\w-])", 0.4),
    )
    CONTEXT = ("card", "credit", "visa", "mastercard", "amex", "payment", "cc", "debit")

    def validate_result(self, pattern_text: str) -> bool | None:
        number = digits(pattern_text)
        return 13 <= len(number) <= 19 and luhn_ok(number)


# Lengths by country (ISO 13616); unknown countries accept 15-34.
_IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18,
    "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IT": 27, "LT": 20, "LU": 20, "LV": 21,
    "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "TR": 26,
}  # fmt: skip


class IbanCodeRecognizer(PiiPatternRecognizer):
    """IBANs, compact or printed in groups of four, checked by length and the mod-97 check digits."""

    ENTITY = "IBAN_CODE"
    PATTERNS = (Pattern("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", 0.5),)
    CONTEXT = ("iban", "bank", "account", "transfer", "wire", "sepa")

    def validate_result(self, pattern_text: str) -> bool | None:
        iban = pattern_text.replace(" ", "")
        expected = _IBAN_LENGTHS.get(iban[:2])
        if (expected is not None and len(iban) != expected) or not 15 <= len(iban) <= 34:
            return False
        rearranged = iban[4:] + iban[:4]
        number = "".join(str(int(c, 36)) for c in rearranged)
        return int(number) % 97 == 1
