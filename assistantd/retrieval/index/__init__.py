"""The vector index seam: chunks with embeddings, searched by vector, keyword, or both fused."""

from assistantd.retrieval.index.base import Hit, IndexedChunk, SearchQuery, VectorIndex

__all__ = ["Hit", "IndexedChunk", "SearchQuery", "VectorIndex"]
