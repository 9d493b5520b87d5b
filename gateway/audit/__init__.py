"""Tamper-evident audit trail in SQL: hash-chained rows, verification, export."""
