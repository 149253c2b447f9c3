"""BM25 over the bundled search corpus: an offline stand-in for the paper's Google search tool.

The index is built on first use and cached on disk next to a fingerprint of the corpus, so later
processes load it in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from functools import cache
from pathlib import Path

from studio.paths import DATA_DIR, cache_dir

CORPUS = DATA_DIR / "search_corpus.jsonl"


def _tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"),
                          return_ids=False, show_progress=False)


class LocalSearch:
    """Top-k passages of a JSONL corpus (`{"text": ...}` per line) by BM25 score."""

    name = "local"

    def __init__(self, corpus: Path = CORPUS):
        import bm25s

        self.passages = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines() if line]
        digest = hashlib.sha256(corpus.read_bytes()).hexdigest()[:16]
        index_dir = cache_dir() / "bm25" / digest
        if not (index_dir / "params.index.json").exists():
            retriever = bm25s.BM25()
            retriever.index(_tokenize(self.passages), show_progress=False)
            tmp = index_dir.with_name(f"{digest}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            retriever.save(str(tmp), show_progress=False)
            shutil.rmtree(index_dir, ignore_errors=True)
            tmp.rename(index_dir)
        self.retriever = bm25s.BM25.load(str(index_dir), show_progress=False, verbosity=0)

    def search(self, query: str, top_k: int = 1) -> list[str]:
        """Best passages first; empty when no query word is in the corpus."""
        tokens = _tokenize([query])
        if not tokens[0]:
            return []
        known = [t for t in tokens[0] if t in self.retriever.vocab_dict]
        if not known:
            return []
        ids, scores = self.retriever.retrieve([known], k=min(top_k, len(self.passages)), show_progress=False)
        return [self.passages[i] for i, s in zip(ids[0], scores[0], strict=True) if s > 0]


@cache
def local_search() -> LocalSearch:
    """One index per process."""
    return LocalSearch()
