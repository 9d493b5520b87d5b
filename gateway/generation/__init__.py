"""Answer generation behind the ``Generator`` protocol."""
