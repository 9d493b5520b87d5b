"""Command groups of the ``gateway`` command that are big enough for a module of their own."""
