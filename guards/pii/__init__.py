"""The PII guard: recognizers on Presidio, one configured engine, answer scrubbing and dataset pseudonymisation.

A library: nothing here imports ``gateway``. The gateway passes the policy (``policies/pii.toml``)
and settings in as plain values.
"""
