"""Our recognizers, one small class each (Presidio style)."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from guards.pii.policy import PiiPolicy
from guards.pii.recognizers.address import StreetAddressRecognizer
from guards.pii.recognizers.contact import EmailAddressRecognizer, IpAddressRecognizer, PhoneNumberRecognizer
from guards.pii.recognizers.enterprise import EnterpriseIdRecognizer
from guards.pii.recognizers.finance import CardNumberRecognizer, IbanCodeRecognizer
from guards.pii.recognizers.names import CjkNameRecognizer, PersonNameRecognizer
from guards.pii.recognizers.national_ids import NationalIdRecognizer, SocialSecurityNumberRecognizer
from guards.pii.recognizers.secrets import (
    ApiKeyRecognizer,
    BearerTokenRecognizer,
    PasswordRecognizer,
    PrivateKeyRecognizer,
)

PATTERN_RECOGNIZERS = (
    EmailAddressRecognizer, PhoneNumberRecognizer, IpAddressRecognizer, CardNumberRecognizer, IbanCodeRecognizer,
    SocialSecurityNumberRecognizer, NationalIdRecognizer, StreetAddressRecognizer, ApiKeyRecognizer,
    BearerTokenRecognizer, PrivateKeyRecognizer, PasswordRecognizer, PersonNameRecognizer, CjkNameRecognizer,
)  # fmt: skip


def build_recognizers(policy: PiiPolicy) -> list[EntityRecognizer]:
    """Every recognizer the policy asks for, enterprise ids from the policy's patterns."""
    language = policy.language
    found: list[EntityRecognizer] = [cls(supported_language=language) for cls in PATTERN_RECOGNIZERS]
    found += [
        EnterpriseIdRecognizer(
            entity=e.entity, pattern=e.pattern, score=e.score, context=e.context, supported_language=language
        )
        for e in policy.enterprise_ids
    ]
    return found
