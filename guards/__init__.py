"""Screening library with no web dependencies.

PII scrubbing (Presidio) and poisoning detection arrive here as their own issues; the gateway's
answer pipeline already has the seam (``gateway.pipeline``) where guard outcomes are recorded in
the audit row.
"""
