"""Who runs a CLI command, as the audit trail records it.

The subject of a CLI row is ``cli:<os-account>``, the account of the process's *real uid* as the
operating system resolves it (``pwd``), never ``$USER`` or ``$LOGNAME``, which anyone can set. The
OS account is what the machine vouches for. ``--operator`` adds who claims to be behind it (a
person, a ticket), recorded as such (``details.operator``): useful on shared service accounts, and
never mistaken for a verified identity.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from typing import Any

from gateway.auth.principal import Principal


@dataclass(frozen=True)
class Operator:
    """The OS account running the command and the operator it names, if any."""

    os_account: str
    os_uid: int
    claimed: str | None = None

    @property
    def subject(self) -> str:
        return f"cli:{self.os_account}"

    def principal(self, tenant: str) -> Principal:
        """The audit subject, in the tenant a row belongs to."""
        return Principal(subject=self.subject, tenant=tenant)

    def details(self) -> dict[str, Any]:
        """What every row of the command also records."""
        return {"via": "cli", "os_account": self.os_account, "os_uid": self.os_uid, "operator": self.claimed}


def current_operator(claimed: str | None = None) -> Operator:
    """The operator of this process: the real uid's account (``uid-<n>`` when it has no name)."""
    uid = os.getuid()
    try:
        account = pwd.getpwuid(uid).pw_name
    except KeyError:
        account = f"uid-{uid}"
    return Operator(os_account=account, os_uid=uid, claimed=(claimed or "").strip()[:200] or None)
