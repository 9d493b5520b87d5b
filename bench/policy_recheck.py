"""The cost of the pipeline's defence-in-depth re-check: Casbin ``can_read`` per hit vs policy size.

``AnswerPipeline._recheck`` asks ``PolicyService.can_read`` for every hit it returns; pycasbin
evaluates the model's matcher (simpleeval) once per policy line. This measures that cost with the
synthetic corpus's grants (2 per collection on average), and the compiled ``AclFilter.matches`` on
the same documents as the reference.

``python -m bench.policy_recheck`` (``--quick``: fewer documents).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import Report, console, machine
from bench.synthetic import CorpusSpec, SyntheticCorpus
from gateway.auth.principal import Principal
from gateway.authz.service import DocumentRef, PolicyService
from gateway.deps import MODEL_PATH


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--documents", type=int, default=30, help="permitted documents checked per case")
    args = p.parse_args()
    docs_per_case = 8 if args.quick else args.documents
    console.print(machine())
    corpus = SyntheticCorpus(CorpusSpec(chunks=20_000))
    users = {u.name: u for u in corpus.users()}
    report = Report(
        "Re-check cost per hit: Casbin can_read vs AclFilter.matches (CPU ms, median)",
        ["policy lines", "user", "can_read", "AclFilter.matches", "ratio", "5 hits, can_read"],
    )
    every = corpus.policy_rules(corpus.users())
    for collections in (10, 50, 150, 300):
        rules = [
            r for r in every if not r.fields[2].startswith("collection:col") or int(r.fields[2][14:]) < collections
        ]
        service = PolicyService.from_rules(MODEL_PATH, rules)
        for name in ("u1", "u5", "u100"):
            user = users[name]
            principal = Principal(user.name, corpus.spec.tenant, frozenset(user.groups))
            acl = service.compile_filter(principal)
            docs = [
                d
                for d in range(corpus.documents)
                if acl.matches(corpus.spec.tenant, corpus.collection_of(d), corpus.allow_of(d), corpus.doc_deny[d])
            ][:docs_per_case]
            casbin_ms, filter_ms = [], []
            for d in docs:
                ref = DocumentRef(
                    tenant=corpus.spec.tenant,
                    collection=corpus.collection_of(d),
                    allow=corpus.allow_of(d),
                    deny=corpus.doc_deny[d],
                    document_id=corpus.document_id(d),
                )
                start = time.process_time()
                assert service.can_read(principal, ref).allowed
                casbin_ms.append((time.process_time() - start) * 1000)
                start = time.process_time()
                for _ in range(100):
                    acl.matches(ref.tenant, ref.collection, ref.allow, ref.deny)
                filter_ms.append((time.process_time() - start) * 10)
            c, f = float(np.median(casbin_ms)), float(np.median(filter_ms))
            report.add(len(rules), name, c, f, f"{c / f:,.0f}x", 5 * c)
    report.print()
    out = Path(__file__).resolve().parent / "results" / "policy_recheck.md"
    out.write_text(machine() + "\n\n" + report.markdown(), encoding="utf-8")


if __name__ == "__main__":
    main()
