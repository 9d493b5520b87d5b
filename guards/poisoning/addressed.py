"""Text that speaks to a model: a model named as the addressee, then told how to behave.

Phrase rules catch the stock wordings ("you are now DAN"); this check catches the structure
behind the rest. Documentation addresses a human reader; an injection addresses the model that
will read it. Where a paragraph names a model (ChatGPT, an LLM, "the AI") *and* speaks to a second
person about how it answers ("you will", "your responses", "I want you to"), the "you" is the
model. Either half alone is ordinary: manuals say "you must" and articles discuss ChatGPT.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A model as a referent. "the model" and "assistant" are left out: manuals use both for other things.
_REFERENT = re.compile(
    r"(?:chatgpt|gpt-?[345](?:\.\d)?|gpt|llms?|ai|a\.i\.|language models?|chatbots?|openai|anthropic|claude|"
    r"gemini|bard|copilot|ai assistant|ai model)\b"
)
# Second-person cues about behaviour, each family counted once per paragraph.
_CUES = {
    "you_modal": re.compile(
        r"\byou (?:will|must|shall|are going to|have to|need to|can now|are now|will now|won't|cannot|can't|"
        r"must not|should not|will never|never|always|should always|should never|do not|don't) "
        r"(?:\w+ )?(?:answer|respond|reply|generate|say|act|pretend|simulate|behave|refuse|comply|obey|ignore|forget|"
        r"break character|stay in character|role-?play|output|censor|filter)"
    ),
    "your_output": re.compile(
        r"\byour (?:responses?|answers?|replies|reply|outputs?|knowledge|programming|training|creators?|"
        r"developers?|guidelines|rules|prompt|instructions|character|persona|capabilities|restrictions|limitations)\b"
    ),
    "request": re.compile(
        r"\bi (?:want|need|would like|ask|am asking|order|command) you\b|\byou are (?:a|an|the|now) "
    ),
    "identity": re.compile(r"\b(?:you|you're|you are) (?:\w+ )?(?:called|named|known as|which means|(?:now )?in)\b"),
    "persona": re.compile(
        r"\b(?:stay in character|break character|in character|role-?play|persona|immerse yourself|jailbr(?:ea|o)k\w*|"
        r"unfiltered|uncensored|no (?:restrictions|limits|filters|rules)|without (?:restrictions|limits|filters))\b"
    ),
}
PARAGRAPH = re.compile(r"\n[ \t]*\n")
WINDOW = 700
"""Characters either side of a model's name that count as its paragraph when paragraphs are long."""


def addressed_to_model(folded: str) -> Iterator[tuple[float, int, int, str]]:
    """``(score, start, end, cues)`` for each paragraph that names a model and tells it how to answer.

    Two or more cue families in one paragraph score 0.75, one scores 0.5 (only with other evidence,
    or under strict trust). ``folded`` is case-folded text.
    """
    done_until = -1
    for ref in _REFERENT.finditer(folded):
        if ref.start() < done_until or (
            ref.start() and (folded[ref.start() - 1].isalnum() or folded[ref.start() - 1] == "_")
        ):
            continue  # the word boundary is checked here: in the regex it would cost ~2x (no prefix scan)
        start, end = _paragraph(folded, ref.start(), ref.end())
        done_until = end
        block = folded[start:end]
        cues = sorted(name for name, cue in _CUES.items() if cue.search(block))
        if cues:
            yield (0.75 if len(cues) >= 2 else 0.5), start, end, "+".join(cues)


def _paragraph(text: str, lo: int, hi: int) -> tuple[int, int]:
    before = text.rfind("\n\n", max(0, lo - WINDOW), lo)
    after = text.find("\n\n", hi, hi + WINDOW)
    return (before + 2 if before >= 0 else max(0, lo - WINDOW)), (after if after >= 0 else min(len(text), hi + WINDOW))
