"""Street addresses: a house number, a street name and a street type (English, German, French, Spanish forms)."""

from __future__ import annotations

from faker.providers.address.en_US import Provider as UsAddressProvider
from presidio_analyzer import Pattern

from guards.pii.recognizers.base import PiiPatternRecognizer

# USPS street suffixes (Publication 28, the list Faker's en_US provider ships) plus the usual abbreviations.
_USPS = sorted(set(UsAddressProvider.street_suffixes), key=len, reverse=True)
_ABBREVIATIONS = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Pl", "Ter", "Cir", "Pkwy", "Hwy", "Sq", "Trl", "Close")
_SUFFIX = rf"(?:{'|'.join([*_USPS, *_ABBREVIATIONS])})\.?"
_NAME = r"(?:[A-Z][a-z'’]+|[A-Z]\.|\d{1,3}(?:st|nd|rd|th))"
_UNIT = r"(?:,?\s(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Floor|Fl\.?|#)\s?[\w-]{1,6})?"
# ", Springfield, IL 62704" or ", London NW1 6XE" (a US state and ZIP, or a UK postcode).
_CITY_TAIL = (
    r"(?:,\s[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2}(?:,?\s[A-Z]{2}\b)?(?:\s\d{5}(?:-\d{4})?"
    r"|\s[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b)?)?"
)


class StreetAddressRecognizer(PiiPatternRecognizer):
    """``221B Baker Street``, ``1600 Pennsylvania Ave NW, Washington, DC 20500``, ``Hauptstraße 12``,
    ``12 rue de la Paix``, ``Calle Mayor 5``."""

    ENTITY = "STREET_ADDRESS"
    PATTERNS = (
        Pattern(
            "us_uk",
            rf"\b\d{{1,6}}[A-Z]?\s(?:[NSEW]\.?\s|North\s|South\s|East\s|West\s)?{_NAME}(?:\s{_NAME}){{0,3}}\s{_SUFFIX}"
            rf"(?:\s(?:NW|NE|SW|SE|N|S|E|W)\b)?{_UNIT}{_CITY_TAIL}",
            0.6,
        ),
        Pattern(
            "de", r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm)\s\d{1,4}[a-z]?\b", 0.6
        ),
        Pattern(
            "fr",
            r"\b\d{1,4}(?:\s?(?:bis|ter))?,?\s(?:rue|avenue|boulevard|bd|place|allée|chemin|impasse|quai)"
            r"\s(?:d[eu']\s?|de la\s|des\s)?[A-ZÉ][\w'’-]+(?:\s[A-ZÉ][\w'’-]+){0,3}",
            0.6,
        ),
        Pattern(
            "es",
            r"\b(?:Calle|Avenida|Avda\.|Paseo|Plaza|Carrer|Via|Viale|Rua)\s(?:de\s(?:la\s)?)?[A-Z][\w'-]+"
            r"(?:\s[A-Z][\w'-]+){0,3},?\s\d{1,4}\b",
            0.55,
        ),
    )
    CONTEXT = ("address", "live", "lives", "located", "street", "ship", "deliver", "mail", "residence", "home")
