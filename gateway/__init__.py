"""gateway: permission-aware retrieval and answers behind SSO, with a tamper-evident audit trail."""

__version__ = "0.1.0"
