"""A behaviour dataset for a LoRA adapter: copy the sentence that answers, cite ``[S<n>]``, refuse otherwise.

Written from the sample corpus (``data/sample/documents.jsonl``, documents readable by everyone only)
with questions that are NOT those of the evaluation set ``data/sample/qa.json``: ``main`` asserts
that no question is shared and that no evaluation reference appears in any passage or completion
(so no evaluation fact is even shown in training). Each example is a chat example, exactly what the
local generator sends: the gateway's behaviour prompt as the system message, then
``gateway.generation.prompt.build_prompt``'s user message (four passages of the product's chunker,
spotlighted with ids, the evidence note, then the question). The completion is the passage's sentence that holds the
answer, copied, followed by the citation of that passage; or the refusal sentence when no passage
holds it (the supporting chunk left out, with distractors from the same document first, or a
question the corpus never answers).

The adapter is then built through the product path, scrub and screen included::

    python -m bench.behaviour_dataset --out behaviour.jsonl
    gateway finetune dataset build --tenant northwind --file behaviour.jsonl --audience-group staff
    gateway finetune train --base <model dir> --dataset <ds-id> --name behaviour --tenant northwind ...

(the data dir needs the sample policy and corpus, ``make run``'s two commands, so that the build can
check that every document behind an example is readable by the whole audience).

The rendering (chat template, end-of-turn) is the trainer's, shared with the local generator
(``gateway.generation.render``), so nothing model-specific is written here.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from gateway.generation.base import NO_ANSWER, AskContext
from gateway.generation.extractive import split_sentences, terms
from gateway.generation.prompt import build_prompt
from gateway.retrieval.base import Hit
from gateway.retrieval.chunking import chunk_text, chunk_title

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
PASSAGES = 4
"""Passages per prompt: the pipeline's default retrieval depth (k=4), so prompts are served-size."""
CHUNK_TOKENS, CHUNK_OVERLAP = 200, 30
"""The product's default chunking (``GATEWAY_CHUNK_MAX_TOKENS`` / ``..._OVERLAP_TOKENS``)."""

# (document id, a phrase locating the passage and its sentence, question). Only documents of the
# ``public`` collection: the sample policy grants it to ``group:staff``, the whole audience of the
# adapter (weights carry no ACL); the build checks this again (``--audience-group staff``).
FACTS: list[tuple[str, str, str]] = [
    ("public-company-overview", "310 customers", "How many customers use Northwind Forecast?"),
    ("public-company-overview", "1220 SW Morrison", "Where is the company headquartered?"),
    ("public-company-overview", "employs 418 people", "How many people does Northwind employ?"),
    ("public-company-overview", "40 percent of employees", "What share of employees work fully remote?"),
    ("public-company-overview", "first Thursday after quarter close", "When is the quarterly all-hands meeting?"),
    ("public-company-overview", "#ask-ops", "Where do I ask when I cannot find a policy?"),
    ("public-code-of-conduct", "$100 per person", "What is the yearly limit on gifts an employee may accept?"),
    ("public-code-of-conduct", "gift cards are never", "May I accept a gift card from a vendor?"),
    ("public-code-of-conduct", "above 1 percent", "Which financial interests must be disclosed?"),
    ("public-code-of-conduct", "reviewed every year", "How often is the code of conduct reviewed?"),
    ("public-holiday-calendar-2025", "eleven paid", "How many paid US company holidays are there in 2025?"),
    ("public-holiday-calendar-2025", "winter shutdown from", "When is the winter shutdown?"),
    ("public-holiday-calendar-2025", "one floating holiday", "How many floating holidays does each employee get?"),
    ("public-holiday-calendar-2025", "less than 30 hours", "What holiday pay do part-time employees get?"),
    ("public-expense-policy", "$75 per day", "What is the daily meal allowance on international trips?"),
    ("public-expense-policy", "$250 per night", "What is the hotel cap in tier-1 cities?"),
    ("public-expense-policy", "$150 per attendee", "What is the cap for client entertainment?"),
    ("public-expense-policy", "parking fines", "Are parking fines reimbursed?"),
    ("public-security-awareness", "within 14 days of starting", "When must security awareness training be done?"),
    ("public-security-awareness", "Passwords must be at least", "How long must work passwords be?"),
    ("public-security-awareness", "external AI tools", "May I paste customer data into an external AI tool?"),
    ("public-remote-work-policy", "at least three days a week", "How often are office-based employees in the office?"),
    ("public-remote-work-policy", "20 working days", "How long may someone work from a country without an entity?"),
    ("public-remote-work-policy", "between 9:00 and 13:00", "What are the core hours?"),
    ("public-remote-work-policy", "$200 per month", "What co-working stipend do fully remote employees get?"),
    ("public-remote-work-policy", "at least twice a year", "How often does each team meet in person?"),
    ("public-parental-leave", "after 90 days", "When does an employee become eligible for parental leave?"),
    ("public-parental-leave", "60 percent of your normal hours", "Can I work part-time when I return from leave?"),
    ("public-benefits-overview", "90 percent of employee", "What share of employee health premiums is paid?"),
    ("public-benefits-overview", "matches 100 percent", "How much does Northwind match in the 401(k)?"),
    ("public-benefits-overview", "20 days of paid time off", "How much paid time off do full-time employees accrue?"),
    ("public-benefits-overview", "$1,500 per calendar year", "What is the yearly learning budget?"),
    ("public-benefits-overview", "six free confidential", "How many counselling sessions does the EAP offer?"),
    # session 5: more distinct questions, several on the same sections (near misses for each other)
    ("public-expense-policy", "$180 per night", "What is the hotel cap outside tier-1 cities?"),
    ("public-expense-policy", "alcohol at $40", "How much alcohol per attendee is reimbursed?"),
    ("public-expense-policy", "$600 per employee", "How much home-office equipment is reimbursed?"),
    ("public-expense-policy", "flat $50 per month", "What phone plan reimbursement do on-call employees get?"),
    ("public-expense-policy", "over $25", "When are itemised receipts required?"),
    ("public-expense-policy", "above $5,000", "Who approves expense claims above $5,000?"),
    ("public-security-awareness", "+1 503 555 0199", "What number do I call to report a lost laptop?"),
    ("public-security-awareness", "(1Vault)", "Which password manager does the company use?"),
    ("public-security-awareness", "#security-help", "Where do I report a suspected security incident?"),
    ("public-security-awareness", "hardware security keys", "Who is issued a hardware security key?"),
    ("public-code-of-conduct", "12 March 2025", "When did the board last approve the code of conduct?"),
    ("public-code-of-conduct", "Outside employment", "Is outside employment allowed?"),
    ("public-holiday-calendar-2025", "double holiday on-call",
     "What do on-call engineers get paid during the winter shutdown?"),
    ("public-holiday-calendar-2025", "Irish public holiday", "Which holiday calendar does the Dublin office follow?"),
    ("public-remote-work-policy", "Ireland and the United Kingdom",
     "In which countries does Northwind have a legal entity?"),
    ("public-remote-work-policy", "company VPN", "When must I use the company VPN?"),
    ("public-remote-work-policy", "TripDesk", "How is travel for team gatherings booked?"),
    ("public-parental-leave", "Contractors are not covered", "Are contractors covered by the parental leave policy?"),
    ("public-parental-leave", "up to three blocks", "In how many blocks can parental leave be taken?"),
    ("public-benefits-overview", "Cascade Health", "Which insurer provides medical coverage?"),
    ("public-benefits-overview", "$1,200 per year", "How much does Northwind contribute to the HSA?"),
    ("public-benefits-overview", "10 days per", "How many sick days do employees get?"),
    ("public-benefits-overview", "Evergreen Retirement", "Who administers the 401(k) plan?"),
    ("public-company-overview", "measure honestly", "What are the company's values?"),
]  # fmt: skip

UNANSWERABLE = [
    "What is the Wi-Fi password in the Portland office?",
    "Who is the head of marketing?",
    "What is the budget of the 2026 company offsite?",
    "How many parking spaces does the Austin office have?",
    "Which bank holds the company's pension fund in Ireland?",
    "What time does the Dublin cafeteria close?",
    "Who won the 2024 hackathon?",
    "What is the dress code for customer visits?",
    "What is the deductible of the PPO plan?",
    "Which airline does TripDesk book by default?",
    "How many meeting rooms does the Dublin office have?",
    "What is the company's revenue for 2024?",
    # session 5: near misses, on topics the public documents cover but facts they do not state
    "What is the mileage rate for driving a personal car on business?",
    "How often must work passwords be changed?",
    "Which VPN client does the company use?",
    "Who is the Dublin office manager?",
    "Which company provides dental coverage?",
    "How many days of bereavement leave do employees get?",
    "How many customers does Northwind have in Ireland?",
    "When was the expense policy first introduced?",
    "How many phishing emails were reported in Q2 2025?",
    "How much is the relocation allowance for new hires?",
]


def chunks(doc: dict[str, Any]) -> list[Hit]:
    """The document's chunks as the index holds them (product chunker, title with heading path)."""
    spans = chunk_text(doc["text"], max_tokens=CHUNK_TOKENS, overlap_tokens=CHUNK_OVERLAP)
    return [Hit(chunk_id=f"{doc['id']}#{c.ordinal}", document_id=doc["id"], tenant="northwind",
                collection="public", version=1, title=chunk_title(doc["title"], c.heading), text=c.text, score=1.0)
            for c in spans]  # fmt: skip


def answer_sentence(hit: Hit, key: str) -> str:
    """The sentence of the passage that holds ``key``, as the passage words it."""
    found = [s.text for s in split_sentences(hit.text) if key in s.text]
    if not found:
        raise ValueError(f"{hit.chunk_id}: no sentence holds {key!r}")
    return found[0]


def public_documents() -> dict[str, dict[str, Any]]:
    """The documents every staff member reads: the ``public`` collection, without ACL restrictions."""
    docs = {}
    for line in (SAMPLE / "documents.jsonl").read_text().splitlines():
        doc = json.loads(line)
        acl = doc.get("acl", {})
        if doc.get("collection") == "public" and not acl.get("allow") and not acl.get("deny"):
            docs[doc["id"]] = doc
    return docs


def overlap(question: str, hit: Hit) -> int:
    """Content terms the passage shares with the question: a stand-in for the retriever's ranking."""
    return len(set(terms(question)) & set(terms(f"{hit.title} {hit.text}")))


def related(question: str, candidates: list[Hit], rng: random.Random, n: int) -> list[Hit]:
    """``n`` of the passages a retriever would rank first for ``question`` (top ``n + 2``, sampled)."""
    ranked = sorted(candidates, key=lambda h: (-overlap(question, h), rng.random()))
    return rng.sample(ranked[: n + 2], min(n, len(ranked)))


def examples(rng: random.Random, variants: int = 2) -> list[tuple[list[Hit], str, str]]:
    """(passages, question, completion): ``variants`` answered prompts per fact, one refusal per fact (its
    chunk left out), and one refusal per unanswerable question.

    Every prompt looks like what retrieval serves: passages related to the question. An answered
    prompt holds the fact's chunk among the question's closest other passages (same document first);
    a refusal holds only passages that do not state the fact (no chunk containing the fact's phrase,
    so the chunker's overlap never puts the answer into a refusal example), ranked by how much they
    share with the question: near misses, the case the previous adapter got wrong. About 40 percent
    of the examples are refusals."""
    docs = public_documents()
    references = [item["reference"].lower() for item in evaluation_items() if item.get("reference")]
    pool = [h for doc in docs.values() for h in chunks(doc) if not any(r in h.text.lower() for r in references)]
    out: list[tuple[list[Hit], str, str]] = []
    for doc_id, key, question in FACTS:
        holds = [h for h in pool if key in " ".join(h.text.split())]
        gold = next((h for h in holds if h.document_id == doc_id), None)
        if gold is None:  # its only chunk also states an evaluation fact: left out, not shown
            continue
        sentence = answer_sentence(gold, key)
        others = [h for h in pool if h not in holds]
        near = [h for h in others if h.document_id == doc_id]
        for _ in range(variants):
            hits = related(question, near, rng, min(2, len(near)))
            hits += related(question, [h for h in others if h not in hits], rng, PASSAGES - 1 - len(hits))
            rng.shuffle(hits)
            at = rng.randrange(PASSAGES)
            hits.insert(at, gold)
            out.append((hits, question, f"{sentence} [S{at + 1}]"))
        # without any chunk stating the fact: the same document's closest other chunks first
        negatives = related(question, near, rng, min(2, len(near)))
        negatives += related(question, [h for h in others if h not in negatives], rng, PASSAGES - len(negatives))
        rng.shuffle(negatives)
        out.append((negatives, question, NO_ANSWER))
    for question in UNANSWERABLE:
        out.append((related(question, pool, rng, PASSAGES), question, NO_ANSWER))
    rng.shuffle(out)
    return out


def evaluation_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads((SAMPLE / "qa.json").read_text())["items"]
    return items


def check_no_leak(rows: list[dict[str, Any]]) -> None:
    """No evaluation question is trained, and no evaluation reference is shown or trained."""
    evaluation = evaluation_items()
    questions = {item["question"].lower() for item in evaluation}
    ours = {q.lower() for _, _, q in FACTS} | {q.lower() for q in UNANSWERABLE}
    assert not questions & ours, "an evaluation question is in the training set"
    references = [item["reference"].lower() for item in evaluation if item.get("reference")]
    for row in rows:
        text = " ".join(m["content"] for m in row["messages"]).lower()
        assert not any(r in text for r in references), "an evaluation reference is in a training example"


def calibrate(split: Path, model_dir: Path, adapter_dir: Path, max_new_tokens: int, out: Path | None) -> None:
    """Tune the local generator's refusal margin on a built dataset's eval split (held out from training).

    Each eval example's prompt (its messages without the completion) is scored by base + adapter
    (``LocalTextModel.refusal_score``); the label is whether its completion is the refusal. Prints the
    tuned margin, its accuracy and plain greedy decoding's on the same examples.
    """
    from gateway.generation.local import LocalTextModel, tune_margin  # noqa: PLC0415 - torch only here
    from gateway.generation.model import AdapterRef  # noqa: PLC0415

    rows = [json.loads(line) for line in split.read_text().splitlines() if line.strip()]
    model = LocalTextModel(model_dir, timeout_seconds=600)
    adapter = AdapterRef(adapter_dir.name, 1, adapter_dir, base=model_dir.name)
    scores, labels = [], []
    for row in rows:
        messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"][:-1]]
        scores.append(model.refusal_score(messages, adapter, max_new_tokens))
        labels.append(row["messages"][-1]["content"].strip() == NO_ANSWER)
        print(f"{len(scores):3d} refuse={labels[-1]!s:5} margin={scores[-1].margin:+.3f} "
              f"greedy_refuses={scores[-1].greedy_refuses!s:5} answer={scores[-1].answer[:60]!r}")  # fmt: skip
    margin, accuracy = tune_margin(scores, labels)
    greedy = sum(s.greedy_refuses == y for s, y in zip(scores, labels, strict=True)) / len(scores)
    at_zero = sum(s.refuses(0.0) == y for s, y in zip(scores, labels, strict=True)) / len(scores)
    print(f"{len(rows)} eval examples ({sum(labels)} refusals): tuned margin {margin:+.3f} -> balanced accuracy "
          f"{accuracy:.3f}; plain accuracy at margin 0: {at_zero:.3f}; greedy first token: {greedy:.3f}")  # fmt: skip
    if out is not None:
        out.write_text(json.dumps({
            "margin": margin, "accuracy": accuracy, "accuracy_at_zero": at_zero, "greedy_accuracy": greedy,
            "examples": [{"refuse": y, "margin": s.margin, "greedy_refuses": s.greedy_refuses, "answer": s.answer}
                         for s, y in zip(scores, labels, strict=True)],
        }, indent=2))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the dataset (JSONL) here; with --calibrate: the report")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", type=int, default=2, help="answered prompts per fact")
    parser.add_argument(
        "--calibrate",
        type=Path,
        metavar="EVAL_JSONL",
        help="tune the refusal margin on this built dataset's eval split (needs --model, --adapter)",
    )
    parser.add_argument("--model", type=Path)
    parser.add_argument("--adapter", type=Path)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()  # fmt: skip
    if args.calibrate is not None:
        if args.model is None or args.adapter is None:
            parser.error("--calibrate needs --model and --adapter")
        calibrate(args.calibrate, args.model, args.adapter, args.max_new_tokens, args.out)
        return
    if args.out is None:
        parser.error("--out is required")
    rng = random.Random(args.seed)
    rows: list[dict[str, Any]] = []
    for hits, question, completion in examples(rng, args.variants):
        prompt = build_prompt(question, hits, AskContext(), nonce=f"{rng.getrandbits(32):08x}")
        messages = [*prompt.messages, {"role": "assistant", "content": completion}]
        rows.append({"messages": messages, "document_ids": sorted({h.document_id for h in hits})})
    check_no_leak(rows)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    refusals = sum(r["messages"][-1]["content"] == NO_ANSWER for r in rows)
    print(f"{len(rows)} examples ({refusals} refusals) -> {args.out}")


if __name__ == "__main__":
    main()
