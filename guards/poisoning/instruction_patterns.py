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

from guards.poisoning.leak_patterns import LEAK_RULES
from guards.poisoning.rule import NEAR_AFTER, NEAR_BEFORE, Rule

_GAP = r"[^\w\n]{1,4}(?:\n[^\w\n]{0,4})?"
_OBJ = r"(?:instructions?|directions?|directives?|prompts?|guidelines|programming|system messages?)"
_OBJ_PLURAL = r"(?:instructions|directions|directives|prompts|guidelines|programming|system messages)"
"""A singular object needs a "previous" or a "your" to be the model's: "ignore this directive" and
"ignore patterns prompt" are manuals talking about a program's input."""
_WEAK_OBJ = r"(?:rules|guidance|constraints|restrictions|policies|content polic(?:y|ies)|orders|limitations|filters)"
_PRIOR = r"(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|system|old|given|safety)"
_OVERRIDE_VERBS = "ignor|disregard|forget|bypass|overrid|neglect|abandon|discard"
"""Where override rules can start: they run only in windows around these (Rule.near)."""
_MODEL = r"(?:ai|llms?|language models?|models?|assistants?|chatbots?|bots?|agents?|gpt|chatgpt|claude|copilot)"


R = Rule
RULES: tuple[Rule, ...] = (
    # --- override the instructions the model was given (en) -------------------------------------
    R("override", 0.95, "ignor*|disregard*|forget*|bypass*|overrid*|neglect*|abandon*|discard*",
      rf"\b(?:ignore|ignoring|disregard|forget|bypass|override|neglect|abandon|discard) (?:all |any |every )?(?:of )?(?:(?:the |these |those |its )?(?:{_PRIOR} )?(?:\w+ )?{_OBJ_PLURAL}|(?:the |its |this |that )?{_PRIOR} (?:\w+ )?{_OBJ}|(?:your |my )(?:{_PRIOR} )?(?:\w+ )?{_OBJ})\b", near=_OVERRIDE_VERBS),
    R("override", 0.9, "ignor*|disregard*|forget*|bypass*|overrid*|neglect*|abandon*|discard*",
      rf"\b(?:ignore|ignoring|disregard|forget|bypass|override|neglect|abandon|discard) (?:(?:all|any) (?:of )?(?:the |your |my )?|(?:the |your |my )?{_PRIOR} |your ){_WEAK_OBJ}\b", near=_OVERRIDE_VERBS),
    R("override", 0.85, "ignor*|disregard*|forget*",
      rf"\b(?:ignore|disregard|forget) (?:all |everything |anything )?(?:of )?(?:the |your )?{_PRIOR} (?:text|messages?|context|content|commands?|information|info|conversation|input|data)\b"),
    R("override", 0.85, "ignor*|disregard*|forget*",
      r"\b(?:ignore|disregard|forget) (?:everything|all|anything) (?:above|before|prior|previously|else|you (?:were |have been |have )?(?:told|given|learned))"),
    R("override", 0.7, "ignor*|disregard*|forget*",
      r"\b(?:ignore|disregard|forget) (?:everything|all|anything)\b[^.\n]{0,40}?\b(?:above|before this|prior to this|previously)\b"),
    R("override", 0.8, "tos|terms|polic*",
      r"\b(?:forget|ignore|disregard|bypass) (?:about )?(?:\w+(?:'s)? ){0,3}(?:tos|terms of service|usage polic(?:y|ies)|content polic(?:y|ies))\b"),
    R("override", 0.8, "override", r"\b(?:administrator|admin|developer|system|sudo|root|security) override\b"),
    R("override", 0.8, "disregard*", r"\bdisregard (?:all|any) (?:info|information|data|content)"),
    R("override", 0.55, "ignor*", r"\bignore (?:all|any) (?:negative|positive|other|prior) \w+"),
    R("override", 0.75, "instruction*",
      r"\b(?:new|updated|real|actual|true|revised|additional|secret|hidden|important) instructions? ?:"),
    R("override", 0.9, "important|urgent|critical|attention",
      rf"\b(?:important|urgent|critical|attention)\W{{0,3}} (?:new )?(?:instructions?|message|notice|note) (?:for|to) (?:the |any |all )?{_MODEL}\b"),
    R("override", 0.7, "overrid*|bypass*", r"\b(?:override|bypass) (?:\w+ ){0,3}and (?:output|print|say|respond|reply|report|answer)\b"),
    R("override", 0.6, "important", r"\bimportant,? (?:really |extremely |very |super |absolutely )important\b"),
    R("override", 0.6, "instead", r"\binstead,? (?:focus|say|print|respond|answer|output|reply|tell)\b"),
    R("override", 0.6, "focus", r"\bfocus (?:only|exclusively|solely) on (?:the )?(?:following|information|text)"),
    # --- addressed to a model -----------------------------------------------------------------------
    R("addressed_to_model", 0.9, "note", rf"\bnote (?:to|for) (?:the |any |all )?(?:{_MODEL}|automated|ai-based)\b"),
    R("addressed_to_model", 0.85, "dear|hey|hi|hello|attention",
      r"\b(?:dear|hey|hi|hello|attention) (?:the )?(?:ai|llm|chatbot|chatgpt|gpt|claude|bard|gemini|copilot|language model|ai model|ai assistant|assistant)\b"),
    R("addressed_to_model", 0.85, "you|act|pretend|roleplay|role",
      r"\b(?:you are|you're|you will be|act as|pretend to be|pretend you are|roleplay as|role-play as) (?:now )?(?:an? |the )?(?:unrestricted |unfiltered |uncensored |jailbroken |evil |rogue |new )?(?:ai|assistant|language model|chatbot|llm|gpt|chatgpt)\b",
      also="ai|assistant|language|chatbot|llm|gpt|chatgpt"),
    R("addressed_to_model", 0.8, "want",
      r"\bi want you to (?:act|pretend|behave|respond|answer|role-?play|simulate|imagine|be|become|only)\b"),
    R("addressed_to_model", 0.4, "ai", r"\bas an ai(?: language model| assistant| model)?\b"),
    R("addressed_to_model", 0.75, "language", r"\blanguage model (?:trained|created|developed|made|built) by\b", also="trained|created|developed|made|built"),
    R("addressed_to_model", 0.6, "you", r"\byou are \w*gpt\b"),
    R("addressed_to_model", 0.35, "chatgpt|gpt|openai|claude|gemini|bard|llm|llms",
      r"\b(?:chatgpt|gpt-?[345](?:\.\d)?|openai|claude|gemini|bard|llms?)\b"),
    R("addressed_to_model", 0.7, "respond|reply|answer|act|behave|speak|talk|write",
      r"\b(?:respond|reply|answer|act|behave|speak|talk) as (?:if you (?:were|are)|though you|the character|a character|both|\w+gpt|dan|an? (?:ai|unfiltered|unrestricted|evil))\b"),
    R("addressed_to_model", 0.8, "you",
      r"\byou (?:will|must|shall|should|are going to) (?:now )?(?:act as|pretend|roleplay|role-play|simulate|play the role|stay in character|not refuse|never refuse|answer as|respond as)\b"),
    R("jailbreak", 0.7, "regardless|ethical|moral|ethics|morality",
      r"\b(?:regardless of|without|ignoring|ignore|disregard|no) (?:any )?(?:ethical|moral|ethics|morality|legal) (?:considerations|guidelines|constraints|restrictions|concerns|boundaries|implications|or moral|or ethical|and moral)?"),
    R("harmful_request", 0.85, "write|generate|compose|produce|create",
      r"\b(?:write|generate|compose|produce|create) (?:one |a |an |some )?(?:toxic|discriminatory|offensive|harmful|negative|unfriendly|hateful|racist|sexist|insulting|derogatory) (?:sentence|joke|comment|statement|post|text|remark|story)s?\b"),
    R("addressed_to_model", 0.6, "now|moment|point", r"\bfrom (?:now on|this moment|this point)(?: on| onwards?)?,? (?:you|your|answer|respond|reply|always|only|act|ignore)\b"),
    R("addressed_to_model", 0.4, "now", r"\byou are now (?:a |an |the )?\w+"),
    R("addressed_to_model", 0.8, "role|persona|identity",
      r"\byou (?:will|must|should|shall|are going to) (?:now )?(?:take on|assume|adopt|play) the (?:role|persona|identity|character)\b"),
    R("addressed_to_model", 0.55, "play|roleplay|game",
      r"\blet'?s play a (?:game|role|roleplay)\b|\byou are in a (?:\w+ )?(?:roleplay|role-play|game)\b"),
    R("addressed_to_model", 0.6, "give|provide|send",
      r"\bi (?:will|'ll) (?:give|provide|send) you\b[^.\n]{0,80}?\byou (?:will|must|should|have to)\b"),
    R("addressed_to_model", 0.6, "answer|respond", r"\b(?:answer|respond to) (?:my|the|this|each) (?:first |next )?(?:question|prompt) as\b"),
    R("addressed_to_model", 0.55, "knowledge|training|cutoff",
      r"\b(?:your|my) (?:knowledge cutoff|training data|training cutoff|limited knowledge)\b|\bknowledge cutoff\b"),
    R("addressed_to_model", 0.7, "deviate|refuse|decline|character",
      r"\byou (?:may|must|can|should|will) (?:not|never) (?:deviate|refuse|decline|break character)\b"),
    R("addressed_to_model", 0.7, "character", r"\b(?:stay|remain|staying) in character\b|\b(?:never|don't|do not) break character\b", also="stay|remain|staying|break"),
    R("addressed_to_model", 0.55, "pretend|roleplay|role", r"\b(?:pretend to be|pretend you are|you will pretend|roleplay as|role-play as)\b"),
    R("addressed_to_model", 0.8, "developer*|creator*|programmer*|admin*|owner*",
      r"\bi am (?:one of )?your (?:developers?|creators?|programmers?|admins?|administrators?|owners?)\b"),
    R("jailbreak", 0.6, "abide|follow|obey|adhere",
      r"\b(?:does not|doesn't|do not|don't|never|no longer) (?:have to |need to )?(?:abide by|follow|obey|adhere to) (?:the |any |their |its |your )?(?:rules|guidelines|policies|restrictions)\b"),
    R("answer_directive", 0.85, "ask*|question*|queries",
      r"\b(?:if|when|whenever) (?:the |a |any )?(?:users?|anyone|someone|somebody|people|customers?|readers?) (?:\w+ )?(?:asks?|asked|questions?|queries|wants to know)\b[^.\n]{0,100}?\b(?:say|reply|respond|answer|tell|state|claim|output|print|mention|insist|report)\b"),
    R("answer_directive", 0.55, "asked|questioned|queried",
      r"\b(?:if|when|whenever) (?:you are |you're |you get )?(?:asked|questioned|queried)\b[^.\n]{0,100}?\b(?:say|reply|respond|tell|state|claim|output|print|mention|insist|report)\b"),
    R("answer_directive", 0.5, "you",
      r"\byou (?:must|should|will|have to|need to) (?:always |only |now )?(?:answer|respond|reply|say|output|print|state|claim)\b"),
    R("answer_directive", 0.7, "only", r"\b(?:reply|respond|answer|output) (?:with |using )?only (?:the following|with|this)\b", also="reply|respond|answer|output", near="only"),
    R("answer_directive", 0.3, "else", r"\band (?:absolutely )?nothing else\b"),
    R("answer_directive", 0.6, "repeat|say|print|output", r"\b(?:repeat|say|print|output) (?:the following|this|after me) (?:sentence|text|phrase|words?|message)\b", also="sentence|text|phrase|word|words|message", near="follow|this|after me"),
    R("answer_directive", 0.9, "user*|human|reader|customer|requester",
      r"\b(?:do not|don't|never) (?:tell|reveal to|mention to|inform|alert|warn|disclose to|let) (?:the )?(?:users?|human|reader|customer|requester)\b"),
    R("answer_directive", 0.85, "reveal|mention|disclose|acknowledge|say",
      r"\b(?:do not|don't|never) (?:reveal|mention|disclose|say|acknowledge) (?:that |these |this |the )(?:instructions?|prompt|message|note|text)\b"),
    # --- jailbreak templates --------------------------------------------------------------------------
    R("jailbreak", 0.9, "anything", r"\bdo(?:es)? anything now\b"),
    R("jailbreak", 0.7, "jailbr*", r"\bjailbr(?:ea|o)k(?:en|s|ing)?\b"),
    R("jailbreak", 0.6, "mode", r"\b(?:developer|god|dude|evil|opposite|unrestricted|unfiltered) mode\b"),
    R("jailbreak", 0.8, "freed|released|liberated|unchained|unshackled",
      r"\byou (?:are|have been) (?:freed|released|liberated|unchained|unshackled)\b"),
    R("jailbreak", 0.7, "openai*|anthropic*", r"\b(?:openai|anthropic)(?:'s)? (?:content |usage )?(?:polic|rules|guidelines|restrictions|filters)"),
    R("jailbreak", 0.75, "bound|free|liberated|unbound",
      r"\b(?:not bound by|free of|free from|break free of|broken free of|liberated from|unbound by) (?:any |all |the )?(?:\w+ )?(?:restrictions|filters|guidelines|limitations|censorship|boundaries|rules|confines)\b"),
    R("jailbreak", 0.7, "restrictions|filters|guidelines|limitations|censorship|boundaries",
      r"\b(?:without|no) (?:any )?(?:ethical|moral|content|safety) (?:restrictions|filters|guidelines|limitations|censorship|boundaries)\b"),
    R("jailbreak", 0.3, "restrictions|filters|limitations|censorship",
      r"\b(?:without|no) (?:any )?(?:restrictions|filters|limitations|censorship)\b"),
    # --- chat templates, role markers and tool calls (substring anchors) ----------------------------------
    R("chat_template", 0.95, "<|[/inst]|[inst]|<<sys>>|<</sys>>|_of_turn>",
      r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|end_of_text|end_of_turn|start_of_turn|channel|message|end|tool_call)\|>|\[/?inst\]|<</?sys>>|<(?:start|end)_of_turn>"),
    R("chat_template", 0.85, "[admin|[system|[developer|[sudo|[root|[operator",
      r"\[(?:admin|system|developer|sudo|root|operator) (?:request|override|instructions?|message|note|command|prompt)s?\b"),
    R("chat_template", 0.85, "<system|<instruction|<admin|<sys>|<user_query",
      r"<(system|instructions?|admin|sys|system_prompt|user_query)>[\s\S]{1,800}?</\1>"),
    R("chat_template", 0.6, "[system]|[admin]|[instruction]|[inst]|[assistant]", r"\[(?:system|admin|instructions?|assistant)\]"),
    R("chat_template", 0.9, "<end|< end", r"<\s*end (?:of )?(?:session|conversation|document|context|input|prompt|text)\s*>"),
    R("role_marker", 0.6, "system:|system :", r"^[ \t>*#]*system ?:"),
    R("role_marker", 0.45, "dan:|dan :|stan:|dude:|aim:|bot:", r"^[ \t>*#]*(?:dan|stan|dude|aim|bot) ?:"),
    R("fake_dialogue", 0.8, "user:|user :|human:|human :",
      r"^[\t>*#\x20]*(?:assistant|chatgpt|gpt|ai)\x20?:[^\n]*\n(?:[^\n]*\n){0,3}?[\t>*#\x20]*(?:user|human)\x20?:|^[\t>*#\x20]*(?:user|human)\x20?:[^\n]*\n(?:[^\n]*\n){0,3}?[\t>*#\x20]*(?:assistant|chatgpt|gpt|ai)\x20?:"),
    R("role_marker", 0.5, "assistant:|assistant :|gpt:|gpt :", r"^[ \t>*#]*(?:assistant|ai assistant|chatgpt|gpt) ?:"),
    R("role_marker", 0.35, "user:|user :|human:|human :", r"^[ \t>*#]*(?:user|human) ?:"),
    R("role_marker", 0.6, ": system:|: system :|: admin:|: assistant:", r":\x20(?:system|admin|assistant)\x20?:\x20"),
    R("role_marker", 0.75, "##", r"^[ \t]*#{2,4} ?(?:instruction|system|system prompt)s? ?:"),
    R("tool_call", 0.9, "<tool_|</tool_|<function_call|</function_call|<invoke|\"tool_calls\"|{\"name\"",
      r"</?(?:tool_call|function_calls?|tool_use)\b|<invoke name=|\"tool_calls\" ?:|\{\"name\": ?\"\w+\", ?\"(?:arguments|parameters)\""),
    R("tool_call", 0.85, "send|email|forward|post|upload|exfiltrate|transmit|leak",
      r"\b(?:send|email|forward|post|upload|exfiltrate|transmit|leak) (?:the |all |every |a copy of |this )?(?:(?:user's|users'|customer's|user|your) (?:conversation(?: history)?|chat history|chat|messages|data|credentials|passwords?|api keys?|tokens?|emails?|documents|files|secrets|personal information)|conversation(?: history)?|chat history|credentials|api keys?|secrets|system prompt) to\b"),
    # --- German -----------------------------------------------------------------------------------------
    R("override", 0.95, "ignorier*|vergiss|vergessen|missacht*|übergeh*",
      r"\b(?:ignorier(?:e|en|t)?|vergiss|vergessen|missachte(?:n)?|übergeh(?:e|en)) (?:sie )?(?:alle |sämtliche |die |deine |ihre )?(?:bisherigen |vorherigen |vorigen |obigen |früheren |vorangegangenen |ursprünglichen |gegebenen )?(?:anweisungen|instruktionen|befehle|regeln|vorgaben|richtlinien|anordnungen)\b", "de"),
    R("override", 0.75, "vergiss|vergessen|ignoriere|ignorieren", r"\b(?:vergiss|vergessen sie|ignoriere|ignorieren sie) alles\b", "de"),
    R("addressed_to_model", 0.75, "bist|sind|sofort|jetzt",
      r"\b(?:du bist|sie sind) (?:jetzt|nun|ab sofort|ab jetzt) (?:ein|eine|der|die|das|mein)\b|\bab (?:jetzt|sofort) (?:bist du|antwortest du|sollst du|wirst du)\b", "de"),
    R("answer_directive", 0.7, "antworte", r"\bantworte (?:nur|ausschließlich|immer|stets) (?:mit|auf|so)\b", "de"),
    R("answer_directive", 0.85, "fragt",
      r"\b(?:wenn|falls|sobald) (?:dich )?(?:jemand|der nutzer|der benutzer|ein nutzer|ein benutzer|man dich) [^.\n]{0,60}?\bfragt\b[^.\n]{0,80}?\b(?:sag|sage|antworte|behaupte|erkläre)\b", "de"),
    R("override", 0.75, "anweisung*", r"\b(?:neue|wichtige|geheime) anweisungen? ?:", "de"),
    R("answer_directive", 0.9, "nutzer*|benutzer*|anwender*",
      r"\b(?:sag|sage|verrate|erzähle?) (?:dem |den )?(?:nutzer|benutzer|anwender)n? (?:nichts|nicht)\b", "de"),
    # --- French -----------------------------------------------------------------------------------------
    R("override", 0.95, "ignore*|oublie*|néglige*",
      r"\b(?:ignore[rz]?|oublie[rz]?|néglige[rz]?) (?:toutes |tous )?(?:les |tes |vos |ces )?(?:instructions|consignes|directives|règles|indications|ordres)\b", "fr",
      also="toutes|tous|tes|vos|ces|consignes|directives|règles|indications|ordres"),
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
    R("answer_directive", 0.9, "不要告诉|不要透露", r"不要(?:告诉|透露给?)用户", "zh"),
    *LEAK_RULES,
)  # fmt: skip

_WORDS = re.compile(r"[^\W\d_]+")
_CJK = re.compile(r"[\u3400-\u9fff]")


def matches(text: str) -> Iterator[tuple[Rule, re.Match[str]]]:
    """Every match of every rule whose anchors occur in ``text`` (case-folded).

    Rules run one by one: one alternation of all rules measured three times slower, because it
    loses each pattern's own literal-prefix scan.
    """
    patterns = _compiled()
    windows: dict[str, list[tuple[int, int]]] = {}
    for i in active_rules(text):
        pattern, needs_boundary = patterns[i]
        near = RULES[i].near
        if near not in windows:
            windows[near] = _spans(text, near)
        for lo, hi in windows[near]:
            for match in pattern.finditer(text, lo, hi):
                start = match.start()
                if needs_boundary and start and (text[start - 1].isalnum() or text[start - 1] == "_"):
                    continue
                yield RULES[i], match


def _spans(text: str, near: str) -> list[tuple[int, int]]:
    """Where a rule's regex runs: the whole text, or merged windows around its ``near`` words."""
    if not near:
        return [(0, len(text))]
    found: list[int] = []
    for word in near.split("|"):  # str.find per word: a C substring search, ~10x a regex alternation
        at = text.find(word)
        while at >= 0:
            found.append(at)
            at = text.find(word, at + 1)
    spans: list[tuple[int, int]] = []
    for at in sorted(found):
        lo, hi = max(0, at - NEAR_BEFORE), at + NEAR_AFTER
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def active_rules(text: str) -> list[int]:
    """Indices of the rules that can match ``text``: one tokenisation, then set operations.

    Which rules a word activates is remembered per word (:class:`_WordRules`), so after the first
    documents the work per document is two C-level set operations and a loop over the few words
    that activate anything, not a look-up per word and anchor length (that cost ~40% of this
    detector).
    """
    index = _anchor_index()
    active: set[int] = set()
    _WORD_RULES.collect(set(_WORDS.findall(text)), index, active)
    scan = index.substrings + (index.cjk if _CJK.search(text) else ())
    for needle, rules in scan:
        if needle in text:
            active.update(rules)
    # Keys past len(RULES) are rules' further anchor sets (Rule.also, key (k + 1) * n + i for the k-th):
    # every set must have occurred.
    n = len(RULES)
    return sorted(i for i in active if i < n and all((k + 1) * n + i in active for k in range(_ALSO_SETS[i])))


class _WordRules:
    """Word → rules it activates, learnt as words are met (bounded: cleared past ``limit`` words)."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self.known: set[str] = set()
        self.rules: dict[str, tuple[int, ...]] = {}

    def collect(self, words: set[str], index: _AnchorIndex, active: set[int]) -> None:
        for word in words - self.known:
            found = set(index.words.get(word, ()))
            for length, table in index.prefixes.items():
                found.update(table.get(word[:length], ()))
            if found:
                self.rules[word] = tuple(found)
            self.known.add(word)
        for word in words & self.rules.keys():
            active.update(self.rules[word])
        if len(self.known) > self.limit:
            self.known, self.rules = set(), {}


_WORD_RULES = _WordRules()


def _also_sets(rule: Rule) -> list[str]:
    return [part for part in rule.also.split(";") if part] if rule.also else []


_ALSO_SETS = tuple(len(_also_sets(rule)) for rule in RULES)


@dataclass(frozen=True)
class _AnchorIndex:
    words: dict[str, tuple[int, ...]]
    prefixes: dict[int, dict[str, tuple[int, ...]]]
    substrings: tuple[tuple[str, tuple[int, ...]], ...]
    """Each distinct needle once, with every rule (or anchor set) it activates."""
    cjk: tuple[tuple[str, tuple[int, ...]], ...]


@lru_cache(maxsize=1)
def _anchor_index() -> _AnchorIndex:
    words: dict[str, list[int]] = {}
    prefixes: dict[int, dict[str, list[int]]] = {}
    substrings: dict[str, list[int]] = {}
    cjk: dict[str, list[int]] = {}
    keyed = [(i, rule.anchors) for i, rule in enumerate(RULES)]
    n = len(RULES)
    keyed += [((k + 1) * n + i, also) for i, rule in enumerate(RULES) for k, also in enumerate(_also_sets(rule))]
    for i, anchors in keyed:
        for anchor in anchors.split("|"):
            if _CJK.search(anchor):
                cjk.setdefault(anchor, []).append(i)
            elif anchor.endswith("*"):
                prefixes.setdefault(len(anchor) - 1, {}).setdefault(anchor[:-1], []).append(i)
            elif _WORDS.fullmatch(anchor):
                words.setdefault(anchor, []).append(i)
            else:
                substrings.setdefault(anchor, []).append(i)
    return _AnchorIndex(
        words={k: tuple(v) for k, v in words.items()},
        prefixes={n: {k: tuple(v) for k, v in t.items()} for n, t in prefixes.items()},
        substrings=tuple((k, tuple(v)) for k, v in substrings.items()),
        cjk=tuple((k, tuple(v)) for k, v in cjk.items()),
    )


@lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[re.Pattern[str], bool], ...]:
    """Each rule's regex, and whether a match must start at a word boundary.

    A leading ``\\b`` is checked in Python after the match instead of in the regex: with it, the
    regex engine cannot use its literal-prefix scan and runs ~100 times slower on long texts.
    """
    out = []
    for rule in RULES:
        pattern = _gaps(rule.pattern)
        boundary = pattern.startswith("\\b") and "|" not in _top_level(pattern)
        out.append((re.compile(pattern[2:] if boundary else pattern, re.MULTILINE), boundary))
    return tuple(out)


def _top_level(pattern: str) -> str:
    """The pattern with every parenthesised group removed (to see top-level alternatives)."""
    depth, out, escaped = 0, [], False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


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
        out.append(f"(?:{_GAP})" if ch == " " and depth == 0 and not escaped else ch)
    return "".join(out)
