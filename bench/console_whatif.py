"""The console's what-if: compiled retrieval filters (what the console does) vs Casbin per document.

A what-if compares, for every person the gateway knows, what they can read before and after an edit.
The console compiles each person's ``AclFilter`` under both policies (``compile_filter``) and matches
every document; the naive alternative asks Casbin ``can_read`` for every (person, document) pair on
both snapshots. Same answers (checked on the naive subset), different cost.

``python -m bench.console_whatif`` (``--quick``: fewer documents).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import Report, console, machine
from bench.synthetic import CorpusSpec, SyntheticCorpus
from gateway.admin.access import Doc, _compare
from gateway.auth.principal import Principal
from gateway.authz.compiler import compile_filter
from gateway.authz.decision import DocumentRef
from gateway.authz.rules import PolicyRule
from gateway.authz.snapshot import PolicySnapshot
from gateway.authz.view import PolicyView
from gateway.deps import MODEL_PATH


def people(corpus: SyntheticCorpus, count: int) -> list[Principal]:
    rng = np.random.default_rng(11)
    out = []
    for i in range(count):
        groups = {f"g{g:03d}" for g in rng.choice(corpus.spec.groups, int(rng.integers(1, 6)), replace=False)}
        out.append(Principal(f"p{i}", corpus.spec.tenant, frozenset(groups)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    console.print(machine())
    report = Report(
        "What-if of one grant: compiled filters vs Casbin can_read per (person, document) (CPU s)",
        ["documents", "people", "compiled filters", "Casbin per pair", "ratio", "changed people"],
    )
    sizes = [(2_000, 50)] if args.quick else [(2_000, 50), (10_000, 200)]
    for documents, count in sizes:
        corpus = SyntheticCorpus(CorpusSpec(chunks=documents * 5))
        t = corpus.spec.tenant
        rules = corpus.policy_rules(corpus.users())
        who = people(corpus, count)
        # Grant the first person's first group a collection that holds documents: a visible effect.
        group = sorted(who[0].groups)[0]
        edit = PolicyRule("p", (f"group:{group}", t, f"collection:{corpus.collection_of(0)}", "read", "allow"))
        before = PolicySnapshot(MODEL_PATH, rules, 1)
        after = PolicySnapshot(MODEL_PATH, [*rules, edit], 2)
        docs = [
            Doc(corpus.document_id(d), "", corpus.collection_of(d), corpus.allow_of(d), corpus.doc_deny[d])
            for d in range(corpus.documents)
        ]
        start = time.process_time()
        changes = [_compare(x, compile_filter(before, x), compile_filter(after, x), docs) for x in who]
        compiled = time.process_time() - start
        changed = sum(1 for c in changes if c.gained or c.lost)
        # Casbin per pair on a slice of the people, extrapolated (the full product takes minutes).
        sample = who[: max(2, count // 25)]
        views = (PolicyView(before), PolicyView(after))
        start = time.process_time()
        for i, x in enumerate(sample):
            gained = set(changes[i].gained)
            for d in docs:
                ref = DocumentRef(tenant=t, collection=d.collection, allow=d.allow, deny=d.deny,
                                  document_id=d.document_id)  # fmt: skip
                was, now = (v.can_read(x, ref).allowed for v in views)
                assert (now and not was) == (d in gained)
        naive = (time.process_time() - start) * count / len(sample)
        report.add(documents, count, compiled, naive, f"{naive / compiled:,.0f}x", changed)
    report.print()
    console.print(report.markdown())


if __name__ == "__main__":
    main()
