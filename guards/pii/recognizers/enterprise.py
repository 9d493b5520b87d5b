"""Enterprise identifiers (employee, customer, ticket ids) from patterns configured in policy."""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer


class EnterpriseIdRecognizer(PatternRecognizer):
    """One configured identifier: the pattern comes from ``policies/pii.toml``, not from code."""

    def __init__(
        self, *, entity: str, pattern: str, score: float, context: list[str], supported_language: str = "en"
    ) -> None:
        import regex  # noqa: PLC0415 - presidio's own regex engine, for the flags

        super().__init__(
            supported_entity=entity,
            name=f"EnterpriseIdRecognizer[{entity}]",
            patterns=[Pattern(entity.lower(), pattern, score)],
            context=context,
            supported_language=supported_language,
            global_regex_flags=regex.DOTALL | regex.MULTILINE,
        )
