"""The table of instruction patterns: text addressed to a model rather than to a human reader.

Each rule is ``Rule(label, score, anchors, pattern, language)``. In a pattern a single space
outside a character class means "a word gap" (spaces or punctuation, at most one line break), so
one rule matches ``ignore all previous instructions``, ``ignore,  all\\nprevious instructions``.
Patterns run on case-folded, NFKC-normalised text (:mod:`guards.poisoning.normalize`).

A score is how likely a match in ordinary prose is an attack: phrases ordinary documents also use
("you must answer", "system:") are weak and quarantine only together with other evidence
(:func:`guards.poisoning.base.combined_score`). Tuned on the dev split of ``bench/poisoning``.
"""

# ruff: noqa: E501, RUF001 - a table of patterns reads best one rule per line, and the
# non-ASCII letters (German, French, Spanish, Chinese, typographic quotes) are the point.

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

_GAP = r"[^\w\n]{1,4}(?:\n[^\w\n]{0,4})?"
_OBJ = (
    r"(?:instructions?|directions?|directives?|prompts?|rules|guidelines|guidance|programming|constraints"
    r"|restrictions|policies|content polic(?:y|ies)|system messages?|orders)"
)
_PRIOR = r"(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|system|old|given|safety)"
_MODEL = r"(?:ai|llms?|language models?|models?|assistants?|chatbots?|bots?|agents?|gpt|chatgpt|claude|copilot)"


@dataclass(frozen=True, slots=True)
class Rule:
    """One instruction pattern."""

    label: str
    score: float
    anchors: str
    """When at least one of these ``|``-separated words occurs (a trailing ``*``: a word starting so;
    anything not a plain word: a substring), the pattern can match; otherwise its regex is skipped.
    Each regex pass costs ~0.2 ms per 1,000 words, and the budget for all screening is 10 ms."""
    pattern: str
    language: str = "en"


R = Rule
RULES: tuple[Rule, ...] = (
    # --- override the instructions the model was given (en) -------------------------------------
    R("override", 0.95, "ignor*|disregard*|forget*|bypass*|overrid*|neglect*|abandon*|discard*",
      rf"\b(?:ignore|ignoring|disregard|forget|bypass|override|neglect|abandon|discard) (?:all |any |every )?(?:of )?(?:the |your |my |these |those |its )?(?:{_PRIOR} )?(?:\w+ )?{_OBJ}\b"),
    R("override", 0.85, "ignor*|disregard*|forget*",
      rf"\b(?:ignore|disregard|forget) (?:all |everything |anything )?(?:of )?(?:the |your )?{_PRIOR} (?:text|messages?|context|content|commands?|information|info|conversation|input|data)\b"),
    R("override", 0.85, "ignor*|disregard*|forget*",
      r"\b(?:ignore|disregard|forget) (?:everything|all|anything) (?:above|before|prior|previously|else|you (?:were|have been) (?:told|given))"),
    R("override", 0.8, "disregard*", r"\bdisregard (?:all|any) (?:info|information|data|content)"),
    R("override", 0.55, "ignor*", r"\bignore (?:all|any) (?:negative|positive|other|prior) \w+"),
    R("override", 0.75, "instruction*",
      r"\b(?:new|updated|real|actual|true|revised|additional|secret|hidden|important) instructions? ?:"),
    R("override", 0.9, "important|urgent|critical|attention",
      rf"\b(?:important|urgent|critical|attention)\W{{0,3}} (?:new )?(?:instructions?|message|notice|note) (?:for|to) (?:the |any |all )?{_MODEL}\b"),
    R("override", 0.7, "overrid*|bypass*", r"\b(?:override|bypass) (?:\w+ ){0,3}and (?:output|print|say|respond|reply|report|answer)\b"),
    R("override", 0.6, "instead", r"\binstead,? (?:focus|say|print|respond|answer|output|reply|tell)\b"),
    R("override", 0.6, "focus", r"\bfocus (?:only|exclusively|solely) on (?:the )?(?:following|information|text)"),
    # --- addressed to a model -----------------------------------------------------------------------
    R("addressed_to_model", 0.9, "note", rf"\bnote (?:to|for) (?:the |any |all )?(?:{_MODEL}|automated|ai-based)\b"),
    R("addressed_to_model", 0.85, "dear|hey|hi|hello|attention",
      r"\b(?:dear|hey|hi|hello|attention) (?:the )?(?:ai|llm|chatbot|chatgpt|gpt|claude|bard|gemini|copilot|language model|ai model|ai assistant|assistant)\b"),
    R("addressed_to_model", 0.85, "you|act|pretend|roleplay|role",
      r"\b(?:you are|you're|you will be|act as|pretend to be|pretend you are|roleplay as|role-play as) (?:now )?(?:an? |the )?(?:unrestricted |unfiltered |uncensored |jailbroken |evil |rogue |new )?(?:ai|assistant|language model|chatbot|llm|gpt|chatgpt)\b"),
    R("addressed_to_model", 0.8, "want",
      r"\bi want you to (?:act|pretend|behave|respond|answer|role-?play|simulate|imagine|be|become|only)\b"),
    R("addressed_to_model", 0.4, "ai", r"\bas an ai(?: language model| assistant| model)?\b"),
    R("addressed_to_model", 0.6, "now", r"\bfrom now on,? (?:you|your|answer|respond|reply|always|only|act|ignore)\b"),
    R("addressed_to_model", 0.7, "deviate|refuse|decline|character",
      r"\byou (?:may|must|can|should|will) (?:not|never) (?:deviate|refuse|decline|break character)\b"),
    R("addressed_to_model", 0.7, "character", r"\bstay in character\b"),
    R("answer_directive", 0.85, "ask*|question*|queries",
      r"\b(?:if|when|whenever) (?:the |a |any )?(?:users?|anyone|someone|somebody|people|customers?|readers?) (?:\w+ )?(?:asks?|asked|questions?|queries|wants to know)\b[^.\n]{0,100}?\b(?:say|reply|respond|answer|tell|state|claim|output|print|mention|insist|report)\b"),
    R("answer_directive", 0.55, "asked|questioned|queried",
      r"\b(?:if|when|whenever) (?:you are |you're |you get )?(?:asked|questioned|queried) (?:about|for|on|regarding|whether|what|how|who|why|if)\b[^.\n]{0,100}?\b(?:say|reply|respond|tell|state|claim|output|print|mention|insist|report)\b"),
    R("answer_directive", 0.5, "you",
      r"\byou (?:must|should|will|have to|need to) (?:always |only |now )?(?:answer|respond|reply|say|output|print|state|claim)\b"),
    R("answer_directive", 0.7, "only|else",
      r"\b(?:reply|respond|answer|output) (?:with |using )?only (?:the following|with|this)\b|\band (?:absolutely )?nothing else\b"),
    R("answer_directive", 0.9, "user*|human|reader|customer|requester",
      r"\b(?:do not|don't|never) (?:tell|reveal to|mention to|inform|alert|warn|disclose to|let) (?:the )?(?:users?|human|reader|customer|requester)\b"),
    R("answer_directive", 0.85, "reveal|mention|disclose|acknowledge|say",
      r"\b(?:do not|don't|never) (?:reveal|mention|disclose|say|acknowledge) (?:that |these |this |the )(?:instructions?|prompt|message|note|text)\b"),
    R("prompt_leak", 0.9, "prompt*|instruction*|preprompt*|pre",
      r"\b(?:reveal|print|output|repeat|show|display|leak|tell me|give me|share|dump|recite|encode|translate) (?:me )?(?:your |the |all |my )?(?:full |entire |complete |original |initial |hidden |secret |starting )?(?:system prompt|initial (?:prompt|instructions)|(?:original|hidden|secret|starting) instructions|instructions (?:you were given|above)|pre-?prompt)\b"),
    R("prompt_leak", 0.45, "prompt*", r"\bsystem prompt\b"),
    # --- jailbreak templates --------------------------------------------------------------------------
    R("jailbreak", 0.9, "anything", r"\bdo anything now\b"),
    R("jailbreak", 0.7, "jailbr*", r"\bjailbr(?:ea|o)k(?:en|s|ing)?\b"),
    R("jailbreak", 0.6, "mode", r"\b(?:developer|god|dude|evil|opposite|unrestricted|unfiltered) mode\b"),
    R("jailbreak", 0.8, "freed|released|liberated|unchained|unshackled",
      r"\byou (?:are|have been) (?:freed|released|liberated|unchained|unshackled)\b"),
    R("jailbreak", 0.7, "openai*|anthropic*", r"\b(?:openai|anthropic)(?:'s)? (?:content |usage )?polic"),
    R("jailbreak", 0.6, "restrictions|filters|guidelines|limitations|censorship|boundaries",
      r"\b(?:without|free of|not bound by|free from|break free of|no) (?:any )?(?:ethical |moral |content |safety |typical )?(?:restrictions|filters|guidelines|limitations|censorship|boundaries)\b"),
    # --- chat templates, role markers and tool calls (substring anchors) ----------------------------------
    R("chat_template", 0.95, "<|[/inst]|[inst]|<<sys>>|<</sys>>|_of_turn>",
      r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|end_of_text|end_of_turn|start_of_turn|channel|message|end|tool_call)\|>|\[/?inst\]|<</?sys>>|<(?:start|end)_of_turn>"),
    R("chat_template", 0.85, "[admin|[system|[developer|[sudo|[root|[operator|<system|</system|<instruction|</instruction|<admin|</admin|<sys>|</sys>|<user_query",
      r"\[(?:admin|system|developer|sudo|root|operator) (?:request|override|instructions?|message|note|command|prompt)s?\b|</?(?:system|instructions?|admin|sys|system_prompt|user_query)>"),
    R("chat_template", 0.9, "<end|< end", r"<\s*end (?:of )?(?:session|conversation|document|context|input|prompt|text)\s*>"),
    R("role_marker", 0.6, "system:|system :|sys:|sys :", r"^[ \t>*#]*(?:system|sys) ?:"),
    R("role_marker", 0.5, "assistant:|assistant :|gpt:|gpt :", r"^[ \t>*#]*(?:assistant|ai assistant|chatgpt|gpt) ?:"),
    R("role_marker", 0.75, "##", r"^[ \t]*#{2,4} ?(?:instruction|system|system prompt)s? ?:"),
    R("tool_call", 0.9, "<tool_|</tool_|<function_call|</function_call|<invoke|\"tool_calls\"|{\"name\"",
      r"</?(?:tool_call|function_calls?|tool_use)\b|<invoke name=|\"tool_calls\" ?:|\{\"name\": ?\"\w+\", ?\"(?:arguments|parameters)\""),
    R("tool_call", 0.85, "send|email|forward|post|upload|exfiltrate|transmit|leak",
      r"\b(?:send|email|forward|post|upload|exfiltrate|transmit|leak) (?:the |all |every |a copy of )?(?:(?:user|users|user's|customer's) )?(?:conversation|chat history|chat|messages|data|credentials|passwords?|api keys?|tokens?|emails?|documents|files|secrets|personal information) to\b"),
    # --- German -----------------------------------------------------------------------------------------
    R("override", 0.95, "ignorier*|vergiss|vergessen|missacht*|übergeh*",
      r"\b(?:ignorier(?:e|en|t)?|vergiss|vergessen|missachte(?:n)?|übergeh(?:e|en)) (?:sie )?(?:alle |sämtliche |die |deine |ihre )?(?:bisherigen |vorherigen |vorigen |obigen |früheren |vorangegangenen |ursprünglichen |gegebenen )?(?:anweisungen|instruktionen|befehle|regeln|vorgaben|richtlinien|anordnungen)\b", "de"),
    R("override", 0.75, "vergiss|vergessen|ignoriere|ignorieren", r"\b(?:vergiss|vergessen sie|ignoriere|ignorieren sie) alles\b", "de"),
    R("addressed_to_model", 0.75, "bist|sind",
      r"\b(?:du bist|sie sind) (?:jetzt|nun|ab sofort|ab jetzt) (?:ein|eine|der|die|das|mein)\b|\bab (?:jetzt|sofort) (?:bist du|antwortest du|sollst du|wirst du)\b", "de"),
    R("answer_directive", 0.7, "antworte", r"\bantworte (?:nur|ausschließlich|immer|stets) (?:mit|auf|so)\b", "de"),
    R("answer_directive", 0.85, "fragt",
      r"\b(?:wenn|falls|sobald) (?:dich )?(?:jemand|der nutzer|der benutzer|ein nutzer|ein benutzer|man dich) [^.\n]{0,60}?\bfragt\b[^.\n]{0,80}?\b(?:sag|sage|antworte|behaupte|erkläre)\b", "de"),
    R("override", 0.75, "anweisung*", r"\b(?:neue|wichtige|geheime) anweisungen? ?:", "de"),
    R("answer_directive", 0.9, "nutzer*|benutzer*|anwender*",
      r"\b(?:sag|sage|verrate|erzähle?) (?:dem |den )?(?:nutzer|benutzer|anwender)n? (?:nichts|nicht)\b", "de"),
    # --- French -----------------------------------------------------------------------------------------
    R("override", 0.95, "ignore*|oublie*|néglige*",
      r"\b(?:ignore[rz]?|oublie[rz]?|néglige[rz]?) (?:toutes |tous )?(?:les |tes |vos |ces )?(?:instructions|consignes|directives|règles|indications|ordres)\b", "fr"),
    R("override", 0.7, "oublie*", r"\boublie[rz]? tout\b", "fr"),
    R("addressed_to_model", 0.75, "es|êtes|désormais|dorénavant|partir",
      r"\b(?:tu es|vous êtes) (?:maintenant|désormais|à présent)\b|\b(?:désormais|dorénavant|à partir de maintenant),? (?:tu|vous|réponds|répondez)\b", "fr"),
    R("answer_directive", 0.7, "réponds|répondez", r"\brépond(?:s|ez) (?:uniquement|seulement|toujours) (?:par|avec|en)\b", "fr"),
    R("answer_directive", 0.85, "demande|pose",
      r"\b(?:si|quand|lorsque) (?:l'utilisateur|l’utilisateur|quelqu'un|quelqu’un|on te|on vous) [^.\n]{0,60}?\b(?:demande|pose)\b[^.\n]{0,80}?\b(?:dis|dites|réponds|répondez|affirme|affirmez)\b", "fr"),
    R("override", 0.75, "nouvelles", r"\bnouvelles instructions ?:", "fr"),
    R("answer_directive", 0.9, "utilisateur", r"\bne (?:dis|dites|révèle|révélez) (?:pas|jamais|rien) (?:à l'utilisateur|à l’utilisateur)\b", "fr"),
    # --- Spanish ----------------------------------------------------------------------------------------
    R("override", 0.95, "ignora*|olvida*|omite|descarta",
      r"\b(?:ignora(?:r|d)?|olvida(?:r|d)?|omite|descarta) (?:todas |todos )?(?:las |tus |sus |los )?(?:instrucciones|indicaciones|órdenes|reglas|directrices)\b", "es"),
    R("override", 0.7, "olvida", r"\bolvida todo\b", "es"),
    R("addressed_to_model", 0.8, "eres|ahora", r"\bahora eres\b|\ba partir de ahora,? (?:eres|serás|responde|debes|vas a)\b", "es"),
    R("answer_directive", 0.7, "responde", r"\bresponde (?:solo|solamente|únicamente|siempre) (?:con|en)\b", "es"),
    R("answer_directive", 0.85, "pregunt*",
      r"\b(?:si|cuando) (?:el usuario|alguien|te) [^.\n]{0,60}?\bpregunt\w*\b[^.\n]{0,80}?\b(?:di|dile|responde|contesta|afirma)\b", "es"),
    R("override", 0.75, "nuevas", r"\bnuevas instrucciones ?:", "es"),
    R("answer_directive", 0.85, "usuario", r"\bno (?:le )?(?:digas|reveles|menciones) (?:nada )?al usuario\b", "es"),
    # --- Chinese (substring anchors: no word breaks) -------------------------------------------------------
    R("override", 0.95, "忽略|无视|忽视|理会|忘记|忘掉|忘了",
      r"(?:忽略|无视|忽视|不要理会|不理会|忘记|忘掉|忘了)掉?你?(?:之前|以前|先前|上面|上述|以上|前面|所有|全部|任何|原来|原有)的?(?:所有|全部|一切)?的?(?:指令|指示|说明|规则|提示|命令|要求|设定|限制)", "zh"),
    R("override", 0.75, "忽略|无视|忘记", r"(?:忽略|无视|忘记)(?:所有|一切|全部)", "zh"),
    R("addressed_to_model", 0.75, "你现在是|从现在", r"你现在是|从现在(?:开始|起)[，,]?你", "zh"),
    R("answer_directive", 0.6, "回答|回复|输出", r"(?:只|仅)(?:需|能)?(?:回答|回复|输出)", "zh"),
    R("answer_directive", 0.85, "问", r"(?:如果|当|若)(?:用户|有人|别人)[^。\n]{0,30}?(?:问|询问)[^。\n]{0,40}?(?:回答|说|回复|告诉)", "zh"),
    R("override", 0.7, "指令", r"新的?指令[:：]", "zh"),
    R("prompt_leak", 0.9, "系统提示|初始指令|原始指令", r"(?:输出|打印|显示|重复|告诉我)你?的?(?:系统提示|初始指令|原始指令)", "zh"),
    R("answer_directive", 0.9, "不要告诉|不要透露", r"不要(?:告诉|透露给?)用户", "zh"),
)  # fmt: skip

_WORDS = re.compile(r"[^\W\d_]+")
_CJK = re.compile(r"[\u3400-\u9fff]")


def matches(text: str) -> Iterator[tuple[Rule, re.Match[str]]]:
    """Every match of every rule whose anchors occur in ``text`` (case-folded).

    Rules run one by one: one alternation of all rules measured three times slower, because it
    loses each pattern's own literal-prefix scan.
    """
    patterns = _compiled()
    for i in active_rules(text):
        for match in patterns[i].finditer(text):
            yield RULES[i], match


def active_rules(text: str) -> list[int]:
    """Indices of the rules that can match ``text``: one tokenisation, then dictionary look-ups."""
    index = _anchor_index()
    active: set[int] = set()
    for word in set(_WORDS.findall(text)):
        active.update(index.words.get(word, ()))
        for length, table in index.prefixes.items():
            active.update(table.get(word[:length], ()))
    scan = index.substrings + (index.cjk if _CJK.search(text) else ())
    active.update(i for needle, i in scan if i not in active and needle in text)
    return sorted(active)


@dataclass(frozen=True)
class _AnchorIndex:
    words: dict[str, tuple[int, ...]]
    prefixes: dict[int, dict[str, tuple[int, ...]]]
    substrings: tuple[tuple[str, int], ...]
    cjk: tuple[tuple[str, int], ...]


@lru_cache(maxsize=1)
def _anchor_index() -> _AnchorIndex:
    words: dict[str, list[int]] = {}
    prefixes: dict[int, dict[str, list[int]]] = {}
    substrings: list[tuple[str, int]] = []
    cjk: list[tuple[str, int]] = []
    for i, rule in enumerate(RULES):
        for anchor in rule.anchors.split("|"):
            if _CJK.search(anchor):
                cjk.append((anchor, i))
            elif anchor.endswith("*"):
                prefixes.setdefault(len(anchor) - 1, {}).setdefault(anchor[:-1], []).append(i)
            elif _WORDS.fullmatch(anchor):
                words.setdefault(anchor, []).append(i)
            else:
                substrings.append((anchor, i))
    return _AnchorIndex(
        words={k: tuple(v) for k, v in words.items()},
        prefixes={n: {k: tuple(v) for k, v in t.items()} for n, t in prefixes.items()},
        substrings=tuple(substrings),
        cjk=tuple(cjk),
    )


@lru_cache(maxsize=1)
def _compiled() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(_gaps(rule.pattern), re.MULTILINE) for rule in RULES)


def _gaps(pattern: str) -> str:
    """Spaces outside character classes become word gaps; ``[^.\\n]`` and friends keep their meaning."""
    out: list[str] = []
    depth = 0
    escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        out.append(_GAP if ch == " " and depth == 0 and not escaped else ch)
    return "".join(out)
