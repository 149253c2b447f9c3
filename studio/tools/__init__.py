"""Search tools the agents call: local BM25 (default, offline), SerpAPI, Wikipedia; cached in the store."""
