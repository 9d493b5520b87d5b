"""Ingest: parse, chunk, embed, index; the SQL document registry records what is searchable."""
