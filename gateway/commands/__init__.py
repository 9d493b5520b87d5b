"""Command groups of the ``gateway`` CLI, one module each, registered in ``gateway.cli``."""
