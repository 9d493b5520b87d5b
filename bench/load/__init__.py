"""Load test: simulated users asking and searching over HTTP (``python -m bench.load``)."""
