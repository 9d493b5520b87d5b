"""A small behaviour dataset for a LoRA adapter: answer briefly from the sources, cite ``[S<n>]``, refuse otherwise.

Written from the sample corpus (``data/sample/documents.jsonl``, public and all-staff documents only) with
questions that are NOT those of the evaluation set ``data/sample/qa.json`` (none of its questions, references
or phrasings; ``main`` checks that no question matches one there). Each example's prompt is exactly what the
local generator sends: ``gateway.generation.prompt.build_prompt`` (instructions, spotlighted passages with
ids, the question) rendered by the model's chat template with the generation prompt, as
``LocalTextModel._encode`` does. The completion is a short answer ending in the citation of the passage
that holds it, or the gateway's refusal sentence when no passage does (the supporting passage is left out
on purpose, or the question is about something the corpus never says).

    python -m bench.behaviour_dataset --tokenizer <model dir> --out behaviour.jsonl

then ``gateway finetune train --base <model dir> --data behaviour.jsonl --name behaviour ...``.

That product path drops every example today: the poisoning screen's ``instructions`` detector
quarantines the gateway's own system prompt (53 of 53 dropped, 2026-11-30). ``--train DIR`` therefore
trains with the same trainer (``gateway.finetune.train.train_adapter``, the same seeded ``split``)
without the scrub and screen, and saves the adapter in DIR for ``gateway generation eval --adapter DIR``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from gateway.generation.base import NO_ANSWER, AskContext
from gateway.generation.prompt import build_prompt
from gateway.retrieval.base import Hit

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"

# (document id, a phrase locating the passage, question, answer without citation)
FACTS: list[tuple[str, str, str, str]] = [
    ("public-company-overview", "310 customers", "How many customers use Northwind Forecast?",
     "Northwind Forecast is used by 310 customers in 14 countries."),
    ("public-company-overview", "1220 SW Morrison", "Where is the company headquartered?",
     "The headquarters is in Portland, at 1220 SW Morrison Street."),
    ("public-code-of-conduct", "$100 per person", "What is the yearly limit on gifts an employee may accept?",
     "Gifts may total no more than $100 per person per calendar year."),
    ("public-expense-policy", "$75 per day", "What is the daily meal allowance on international trips?",
     "Meals are reimbursed up to $100 per day for international travel."),
    ("public-expense-policy", "$250 per night", "What is the hotel cap in tier-1 cities?",
     "Hotels are capped at $250 per night in tier-1 cities."),
    ("public-security-awareness", "1Vault", "How long must work passwords be?",
     "Passwords must be at least 14 characters long."),
    ("public-remote-work-policy", "20 working days", "How long may someone work from a country without an entity?",
     "Up to 20 working days in any 12-month period, with manager approval."),
    ("public-benefits-overview", "90 percent of employee", "What share of employee health premiums is paid?",
     "Northwind pays 90 percent of employee premiums."),
    ("public-holiday-calendar-2025", "eleven paid", "How many paid US company holidays are there in 2025?",
     "There are eleven paid company holidays in the United States in 2025."),
    ("hr-hiring-process", "recruiter screen (30", "How long is the recruiter screen?",
     "The recruiter screen takes 30 minutes."),
    ("hr-onboarding-checklist", "welcome email", "When is the welcome email sent to a new hire?",
     "Ten business days before the start date."),
    ("hr-pto-administration", "reduced to 5 days", "How much PTO carries over past 31 December?",
     "Balances above 5 days are reduced to 5 days."),
    ("hr-employee-relations-procedure", "two business days", "How quickly must a complaint be acknowledged?",
     "Every complaint is acknowledged within two business days."),
    ("hr-visa-sponsorship", "15 February", "By when must H-1B candidates be nominated?",
     "Hiring managers must nominate candidates by 15 February."),
    ("finance-fy2025-budget-summary", "$71.0 million", "What is the total revenue plan for FY2025?",
     "The total revenue plan is $71.0 million."),
    ("finance-month-end-close", "six business days", "How fast are the books closed after month end?",
     "Within six business days of each month end."),
    ("finance-procurement-policy", "$2,500", "Above what amount is a purchase order needed?",
     "A purchase order is required for any purchase above $2,500."),
    ("finance-ap-payment-runs", "net 45", "What are the standard vendor payment terms?",
     "Standard vendor payment terms are net 45 days."),
    ("finance-corporate-card-admin", "$5,000", "What is the default monthly limit of a corporate card?",
     "The default monthly limit is $5,000; department heads have $15,000."),
    ("eng-oncall-rotation", "Monday at 10:00", "When does the on-call rotation hand over?",
     "Every Monday at 10:00 Pacific Time."),
    ("eng-postmortem-inc-2291", "95 minutes", "How long did the Forecast API latency incident last?",
     "95 minutes, from 14:12 to 15:47 UTC on 3 June 2025."),
    ("eng-deployment-runbook", "Monday to Thursday", "On which days may production deploys happen?",
     "Monday to Thursday between 09:00 and 16:00 Pacific Time."),
    ("eng-service-level-objectives", "99.9 percent", "What is the availability objective of the Forecast API?",
     "99.9 percent of requests succeed."),
    ("eng-code-review-guidelines", "one business day", "How quickly should code reviewers respond?",
     "Reviewers respond within one business day."),
    ("eng-architecture-overview", "Spark", "What does feature-pipeline run on?",
     "It builds daily features with Spark on the data lake."),
    ("legal-data-retention-schedule", "24 months", "How long is raw customer sales data kept?",
     "It is deleted 24 months after ingestion."),
    ("legal-vendor-cloudharbor-contract", "$3.6 million", "What is the committed yearly spend with CloudHarbor?",
     "The committed spend is $3.6 million per year."),
    ("legal-vendor-labelwise-contract", "$0.18", "What does LabelWise charge per record?",
     "$0.18 per labelled record."),
    ("legal-nda-template-notes", "three years from disclosure", "How long does NDA confidentiality last?",
     "Three years from disclosure."),
    ("legal-open-source-policy", "Permissive licences", "Which licences need no review?",
     "Permissive licences: MIT, BSD-2-Clause, BSD-3-Clause, Apache-2.0 and ISC."),
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
]


def passages(doc: dict[str, Any]) -> list[str]:
    """The document's sections (a heading and its body), like a chunker's units, at most 700 characters."""
    parts = [p.strip() for p in ("\n" + doc["text"]).split("\n## ") if p.strip()]
    return [p[:700] for p in parts]


def hit(doc: dict[str, Any], text: str, n: int) -> Hit:
    return Hit(chunk_id=f"{doc['id']}#{n}", document_id=doc["id"], tenant="default", collection="default",
               version=1, title=doc["title"], text=text, score=1.0)  # fmt: skip


def examples(rng: random.Random) -> list[tuple[list[Hit], str, str]]:
    docs = {}
    for line in (SAMPLE / "documents.jsonl").read_text().splitlines():
        doc = json.loads(line)
        acl = doc.get("acl", {})
        if not acl.get("allow") and not acl.get("deny"):  # readable by everyone: nothing restricted in training
            docs[doc["id"]] = doc
    references = [item["reference"].lower() for item in _evaluation() if item.get("reference")]
    # distractors never hold an evaluation answer, so no eval fact is even shown in training
    pool = [(doc, text, i) for doc in docs.values() for i, text in enumerate(passages(doc))
            if not any(ref in text.lower() for ref in references)]  # fmt: skip
    out: list[tuple[list[Hit], str, str]] = []
    for k, (doc_id, key, question, answer) in enumerate(FACTS):
        doc = docs[doc_id]
        [(gold_i, gold)] = [(i, t) for i, t in enumerate(passages(doc)) if key in t][:1]
        others = [h for h in pool if h[0]["id"] != doc_id]
        distract = [hit(d, t, i) for d, t, i in rng.sample(others, rng.randint(1, 3))]
        hits = [*distract]
        hits.insert(rng.randint(0, len(hits)), hit(doc, gold, gold_i))
        sid = f"S{hits.index(next(h for h in hits if h.document_id == doc_id)) + 1}"
        out.append((hits, question, f"{answer} [{sid}]"))
        if k % 2 == 0:  # the same question without its passage: refuse
            out.append(([hit(d, t, i) for d, t, i in rng.sample(others, rng.randint(2, 3))], question, NO_ANSWER))
    for question in UNANSWERABLE:
        out.append(([hit(d, t, i) for d, t, i in rng.sample(pool, rng.randint(2, 4))], question, NO_ANSWER))
    rng.shuffle(out)
    return out


def _evaluation() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads((SAMPLE / "qa.json").read_text())["items"]
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True, help="the base model directory")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=Path, default=None, help="also train a LoRA adapter into this directory")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--max-length", type=int, default=800)
    args = parser.parse_args()
    from transformers import AutoTokenizer  # noqa: PLC0415

    evaluation = {item["question"].lower() for item in _evaluation()}
    ours = {q.lower() for _, _, q, _ in FACTS} | {q.lower() for q in UNANSWERABLE}
    assert not evaluation & ours, "an evaluation question is in the training set"
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer, local_files_only=True)
    rng = random.Random(args.seed)
    rows: list[dict[str, str]] = []
    for hits, question, completion in examples(rng):
        prompt = build_prompt(question, hits, AskContext(), nonce=f"{rng.getrandbits(32):08x}")
        text = tokenizer.apply_chat_template(list(prompt.messages), add_generation_prompt=True, tokenize=False)
        rows.append({"prompt": str(text), "completion": completion})
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    refusals = sum(r["completion"] == NO_ANSWER for r in rows)
    print(f"{len(rows)} examples ({refusals} refusals) -> {args.out}")
    if args.train is not None:
        train(args.tokenizer, rows, args.train, args.steps, args.learning_rate, args.max_length, args.seed)


def train(base: Path, rows: list[dict[str, str]], out: Path, steps: int, lr: float, max_length: int, seed: int) -> None:
    """The product trainer on these examples (15 % held out for its eval loss), no scrub or screen."""
    import time  # noqa: PLC0415

    from gateway.finetune.dataset import split  # noqa: PLC0415
    from gateway.finetune.examples import Example  # noqa: PLC0415
    from gateway.finetune.train import TrainParams, train_adapter  # noqa: PLC0415

    examples = [Example(r["prompt"].strip(), r["completion"].strip(), ()) for r in rows]
    train_set, eval_set = split(examples, seed, 0.15)
    params = TrainParams(steps=steps, learning_rate=lr, max_length=max_length, seed=seed, device="cpu")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def progress(step: int, total: int, loss: float) -> None:
        print(f"step {step}/{total} loss {loss:.4f} {time.monotonic() - started:.0f}s", flush=True)

    result = train_adapter(base, train_set, eval_set, params, out, progress=progress)
    print(json.dumps({**result.metrics, "steps": result.steps, "seconds": round(time.monotonic() - started)}))


if __name__ == "__main__":
    main()
