"""Permission-aware hybrid retrieval: value types, backends, fusion, embedding, chunking."""
