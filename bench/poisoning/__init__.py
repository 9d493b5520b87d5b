"""The poisoning-screening benchmark: labelled attacks, real clean prose, a naive baseline."""
