"""Retrieval: vector stores, file batches, ingestion (extract, chunk, embed, index), search, file_search."""
