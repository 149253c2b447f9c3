"""Search: local BM25 over the bundled corpus, the store's cache, noise, and the remote backends' wire format."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio.recipe.schema import Noise, Tool
from studio.tools.search import EMPTY, Search
from studio.tools.search_local import CORPUS, local_search
from studio.tools.search_remote import SearchError, SerpApiSearch, WikipediaSearch


def test_recorded_queries_find_their_passages():
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()][::40]
    hits = sum(r["text"] in local_search().search(r["queries"][0], 3) for r in rows)
    assert hits / len(rows) >= 0.55  # measured 0.60 on every 20th row; BM25 on passage text only


def test_top_k_and_no_match():
    results = local_search().search("Scott Derrickson director", 3)
    assert len(results) == 3 and "Scott Derrickson" in results[0]
    assert local_search().search("qqqzzzxx") == [] and local_search().search("the of and") == []


def test_search_goes_through_store_cache(store):
    search = Search(Tool(top_k=2), store)
    calls = []
    real = search.backend.search
    search.backend = type("Spy", (), {"search": lambda self, q, k: calls.append(q) or real(q, k)})()
    first = search("Badr Hari kickboxer")
    second = search("Badr  Hari   kickboxer")  # same query once whitespace is normalised
    assert first == second and "Badr Hari" in first and calls == ["Badr Hari kickboxer"]
    assert store.cache_get("local", "Badr Hari kickboxer", 2) == first.split("\n")


def test_empty_result_reads_none_like_the_papers_tool(store):
    assert Search(Tool(), store)("qqqzzzxx") == EMPTY == "None"


def test_noise_is_deterministic_and_never_cached(store):
    clean = Search(Tool(), store)("Badr Hari kickboxer")
    empty = Search(Tool(), store, Noise(p=1.0, kind="empty"))
    assert empty("Badr Hari kickboxer") == "None"
    noisy_a = Search(Tool(), store, Noise(p=1.0, kind="random", seed=1))("Badr Hari kickboxer")
    noisy_b = Search(Tool(), store, Noise(p=1.0, kind="random", seed=1))("Badr Hari kickboxer")
    assert noisy_a == noisy_b != clean and noisy_a in local_search().passages
    assert store.cache_get("local", "Badr Hari kickboxer", 1) == [clean]
    half = Search(Tool(), store, Noise(p=0.5, seed=3))
    queries = [f"question number {i}" for i in range(200)]
    noisy = sum(half(q) != Search(Tool(), store)(q) for q in queries)
    assert 70 < noisy < 130


class Scripted(BaseHTTPRequestHandler):
    """Speaks SerpAPI's and MediaWiki's JSON; `reply` decides status and body per test."""

    reply: tuple[int, bytes] = (200, b"{}")

    def do_GET(self):
        status, body = type(self).reply
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_port}/search.json"
    httpd.shutdown()


def test_serpapi_prefers_answer_box_then_snippets(server, monkeypatch):
    _, url = server
    monkeypatch.setenv("SERP_TEST_KEY", "k")
    Scripted.reply = (200, json.dumps({"answer_box": {"answer": "Paris"},
                                       "organic_results": [{"snippet": "Paris is the capital."}]}).encode())
    assert SerpApiSearch("SERP_TEST_KEY", url).search("capital of France", 2) == ["Paris", "Paris is the capital."]
    Scripted.reply = (200, json.dumps({"organic_results": [{"title": "x"}, {"snippet": "A snippet."}]}).encode())
    assert SerpApiSearch("SERP_TEST_KEY", url).search("q") == ["A snippet."]


def test_wikipedia_returns_intro_extracts_in_rank_order(server):
    _, url = server
    pages = {"2": {"index": 2, "extract": "Second."}, "1": {"index": 1, "extract": "First."}}
    Scripted.reply = (200, json.dumps({"query": {"pages": pages}}).encode())
    assert WikipediaSearch(url).search("q", 2) == ["First.", "Second."]


@pytest.mark.parametrize("reply, message", [
    ((500, b"oops"), "HTTP 500"),
    ((429, b"{}"), "HTTP 429"),
    ((200, b"<html>not json"), "not JSON"),
    ((200, b"[1, 2]"), "unexpected reply"),
])
def test_remote_failures_are_clear_errors(server, monkeypatch, reply, message):
    _, url = server
    monkeypatch.setenv("SERP_TEST_KEY", "k")
    Scripted.reply = reply
    with pytest.raises(SearchError, match=message):
        SerpApiSearch("SERP_TEST_KEY", url).search("q")


def test_serpapi_needs_its_key(monkeypatch):
    monkeypatch.delenv("SERP_MISSING", raising=False)
    with pytest.raises(SearchError, match="SERP_MISSING is not set"):
        SerpApiSearch("SERP_MISSING")


def test_unreachable_server_is_a_search_error():
    with pytest.raises(SearchError, match="wikipedia"):
        WikipediaSearch("http://127.0.0.1:9/w/api.php", timeout_s=2).search("q")
