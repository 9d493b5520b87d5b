"""Administrative services (policies, the audit trail), each change and refusal audited; no HTTP here."""
