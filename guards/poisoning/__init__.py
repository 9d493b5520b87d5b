"""Poisoning screening: detectors (one module per technique), a policy that decides, and the
query-time helpers (re-screen, spotlighting, answer link check).

Entry points: :func:`guards.poisoning.screen.default_screen` for ingest,
:func:`guards.poisoning.rescreen.rescreen_passage` at query time,
:func:`guards.poisoning.spotlight.spotlight` for prompt building,
:func:`guards.poisoning.answer_links.strip_unsourced_links` for generated answers.
"""
