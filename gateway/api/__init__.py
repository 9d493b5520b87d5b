"""HTTP layer: thin controllers over the pipeline and services."""
