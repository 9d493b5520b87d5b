"""Person names beyond the small NER model: honorifics, greetings and signatures, context words and
first/last name lists drawn from many Faker locales."""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any, ClassVar

import regex
from presidio_analyzer import EntityRecognizer, Pattern, RecognizerResult

from guards.pii.recognizers.base import PiiPatternRecognizer

# Latin-script locales whose person providers carry first and last name lists (romanised lists
# are taken where a locale has them, e.g. Japanese and Chinese).
NAME_LOCALES = (
    "en_US", "en_GB", "en_IN", "en_IE", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "pt_BR", "pt_PT", "nl_NL",
    "pl_PL", "sv_SE", "da_DK", "no_NO", "fi_FI", "cs_CZ", "hu_HU", "ro_RO", "tr_TR", "id_ID", "ja_JP", "zh_CN",
    "ko_KR", "vi_VN", "ga_IE", "sk_SK", "hr_HR", "sl_SI", "lt_LT", "lv_LV", "et_EE", "fil_PH", "tw_GH", "yo_NG",
    "zu_ZA", "sw", "fa_IR", "ar_AA", "hi_IN", "uk_UA", "ru_RU",
)  # fmt: skip
_FIRST = ("first_names", "first_names_male", "first_names_female", "first_romanized_names")
_LAST = ("last_names", "last_romanized_names")
# Capitalised words that are also given names or surnames in some locale but far more often ordinary
# English at the start of a sentence or in a title: never a name on the list's word alone.
_COMMON = (
    "The A An And Or But If Will May June April August Grant Bill Mark Rose Lane Page Case Long Hill Young King "
    "Love Hope Joy Faith Summer Winter Sunny Price Cash Chase Sky Star Say Per Van Von Den Der Le La De Del Da "
    "Do Dr Mr Mrs Ms Can Jan Ever Still New North South East West Main Park Street Road Team Service Support "
    "Order Product Version Release Update Note Notes Please Thanks Hello Hi Dear Best Regards Kind Cheers Sincerely "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March July September October "
    "November December Server Cluster Ticket Build Deploy Policy Report Chapter Section Table Figure Step"
)
COMMON_WORDS = frozenset(_COMMON.split())


def _names_of(provider: Any, attributes: tuple[str, ...]) -> set[str]:
    names: set[str] = set()
    for attr in attributes:
        for name in getattr(provider, attr, ()) or ():
            if isinstance(name, str) and name[:1].isupper() and name.isalpha() and len(name) > 1:
                names.add(name)
    return names


@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names) from every locale in ``NAME_LOCALES`` that Faker ships."""
    first: set[str] = set()
    last: set[str] = set()
    for locale in NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except ImportError:
            continue
        first |= _names_of(provider, _FIRST)
        last |= _names_of(provider, _LAST)
    return frozenset(first - COMMON_WORDS), frozenset(last - COMMON_WORDS)


_WORD = r"\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}]+)?"
_NAME = rf"{_WORD}(?:\s(?:{_WORD}|\p{{Lu}}\.)){{0,2}}"


class PersonNameRecognizer(EntityRecognizer):
    """PERSON spans from cues the small NER model misses; scores by the strength of the cue."""

    ENTITY = "PERSON"
    # (pattern with a ``name`` group, score). Each cue is a fact about how names are written in
    # business text, not a guess about capitalised words.
    CUES: ClassVar[list[tuple[str, float]]] = [
        (rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Mme|Mlle|Sr|Sra|Sig)\.?\s(?P<name>{_NAME})", 0.85),
        (rf"(?m)^(?:Hi|Hello|Hey|Dear|Good morning|Good afternoon)\s(?P<name>{_NAME})\s?[,!:]", 0.8),
        (
            rf"(?m)(?:Regards|Best|Thanks|Thank you|Cheers|Sincerely|Best regards|Kind regards|Many thanks)"
            rf"[,!]?\s*\n\s*(?P<name>{_NAME})\s*$",
            0.85,
        ),
        (
            rf"\b(?:name is|named|called|signed by|assigned to|reported by|approved by|owner:|manager:|contact:|"
            rf"employee:|cc:|attn:|from:|to:)\s(?P<name>{_NAME})",
            0.7,
        ),
    ]
    _candidate = regex.compile(rf"(?<![\p{{L}}\d])(?P<first>{_WORD})(?P<rest>(?:\s(?:{_WORD}|\p{{Lu}}\.)){{1,2}})")

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=[self.ENTITY], name=type(self).__name__, supported_language=supported_language
        )
        self._cues = [(regex.compile(p), s) for p, s in self.CUES]
        self._first, self._last = name_lists()

    def load(self) -> None:
        """Nothing to load: the name lists are read lazily once per process."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        if self.ENTITY not in entities:
            return []
        found = [self._result(m.start("name"), m.end("name"), score) for cue, score in self._cues
                 for m in cue.finditer(text)]  # fmt: skip
        found.extend(self._listed(text))
        return found

    def _listed(self, text: str) -> list[RecognizerResult]:
        """``First Last`` where the first word is a known given name and the next words look like a surname."""
        results = []
        for m in self._candidate.finditer(text):
            if m.group("first") not in self._first:
                continue
            rest = m.group("rest").split()
            if rest[-1] in COMMON_WORDS:
                rest = rest[:-1]
            if not rest or rest[0] in COMMON_WORDS:
                continue
            score = 0.85 if rest[-1].rstrip(".") in self._last else 0.6
            end = m.start("rest") + m.group("rest").index(rest[-1]) + len(rest[-1])
            results.append(self._result(m.start("first"), end, score))
        return results

    def _result(self, start: int, end: int, score: float) -> RecognizerResult:
        metadata = {
            RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: str(self.id),
        }
        return RecognizerResult(self.ENTITY, start, end, score, recognition_metadata=metadata)


CJK_LOCALES = ("ja_JP", "zh_CN", "zh_TW", "ko_KR")
_CJK = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]"


@lru_cache(maxsize=1)
def cjk_surnames() -> tuple[str, ...]:
    """Common surnames written in Han or Hangul (Faker's ja/zh/ko lists), longest first."""
    names: set[str] = set()
    for locale in CJK_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        names |= {n for n in getattr(provider, "last_names", ()) if isinstance(n, str) and n}
    return tuple(sorted(names, key=len, reverse=True))


class CjkNameRecognizer(PiiPatternRecognizer):
    """Names in Chinese, Japanese or Korean script inside other text: a known surname followed by one
    to three CJK characters (given names are not a closed list), the whole run bounded by non-CJK text."""

    ENTITY = "PERSON"
    PATTERNS = ()
    CONTEXT = ("name", "contact", "employee", "customer", "manager", "mr", "ms", "dr")

    def __init__(self, supported_language: str = "en") -> None:
        surnames = "|".join(regex.escape(n) for n in cjk_surnames())
        pattern = Pattern("cjk_name", rf"(?<!{_CJK})(?:{surnames})\s?{_CJK}{{1,3}}(?!{_CJK})", 0.6)
        super().__init__(supported_language, patterns=(pattern,))
