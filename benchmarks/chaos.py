"""What goes wrong, made on purpose: a fault-injecting proxy in front of a real OpenAI-compatible server, and
fuzzed recipes and trajectory files. Used by `tests/stages/test_reliability.py` (small) and
`benchmarks/reliability.py` (larger).

The proxy forwards every request to the real server, except a fixed share `rate` of them (every request
whose index crosses the next multiple of 1/rate: exactly that share, the same requests on every run), which
it answers the way hosted APIs do on a bad day, the fault kinds in turn:

- `429`: rate limited, with `Retry-After: 0.2` (OpenAI's body)
- `500`: server error
- `garbage`: status 200 with a body that is not JSON
- `hang`: no answer at all, so only the client's own timeout gets past it (or, with `hang_s`, the connection
  closes after that long)
- `401`: OpenAI's "Incorrect API key provided: <the key it was sent>", quoting the key, as OpenAI does

Every reply the real server gives is recorded (`recorded`, by request). A proxy made with `replay=` another's
record answers the requests found there from it, at once, instead of asking the server again: a faulty
pass then waits on nothing but its faults, so a client timeout short enough to end the hangs quickly is
never hit by a server slowed down by other work on the machine (`tests/stages/test_reliability.py`).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import yaml

FAULTS = ("429", "500", "garbage", "hang", "401")


class FaultProxy(ThreadingHTTPServer):
    """`with FaultProxy(upstream, rate=0.3) as proxy:` point a client at `proxy.base_url`."""

    daemon_threads = True

    def __init__(self, upstream: str, rate: float, faults: tuple[str, ...] = FAULTS, hang_s: float | None = None,
                 replay: dict[tuple[str, bytes], tuple[int, bytes]] | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream.rstrip("/")
        self.root = f"{urlsplit(self.upstream).scheme}://{urlsplit(self.upstream).netloc}"
        self.rate, self.faults, self.hang_s = rate, faults, hang_s
        self.replay = replay or {}
        self.recorded: dict[tuple[str, bytes], tuple[int, bytes]] = {}  # (path, body) -> the server's reply
        self.counts: Counter[str] = Counter()  # faults by kind, "forwarded" to the server, "replayed"
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.requests = 0
        self.client = httpx.Client(timeout=600)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{urlsplit(self.upstream).path}"

    def next_fault(self) -> str | None:
        """The fault for the next request, or None to forward it: exactly `rate` of requests, kinds in turn."""
        with self.lock:
            i = self.requests
            self.requests += 1
            if int((i + 1) * self.rate) == int(i * self.rate):
                return None
            fault = self.faults[(int((i + 1) * self.rate) - 1) % len(self.faults)]
            self.counts[fault] += 1
            return fault

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()  # hanging handlers let go
        self.shutdown()
        self.server_close()
        self.client.close()


class _Handler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        fault = self.server.next_fault()
        try:
            if fault is None:
                self._send(*self._forward(body))
            elif fault == "hang":  # until the client gives up (its timeout), or hang_s, or the proxy closes
                self.server.closing.wait(self.server.hang_s)
                self.close_connection = True
            elif fault == "429":
                self._send(429, _error("Rate limit reached for requests", "requests"), {"Retry-After": "0.2"})
            elif fault == "500":
                self._send(500, _error("The server had an error while processing your request.", "server_error"))
            elif fault == "garbage":
                self._send(200, b'{"id": "cmpl-1", "choices": [{"text": "Thou')
            elif fault == "401":
                key = self.headers.get("authorization", "").removeprefix("Bearer ")
                self._send(401, _error(f"Incorrect API key provided: {key}. You can find your API key at "
                                       "https://platform.openai.com/account/api-keys.", "invalid_request_error"))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (its timeout): fine

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        """The server's reply: from the replayed record if the request is there, else from the server."""
        server, request = self.server, (self.path, body)
        if request in server.replay:
            with server.lock:
                server.counts["replayed"] += 1
            return server.replay[request]
        with server.lock:
            server.counts["forwarded"] += 1
        reply = server.client.post(server.root + self.path, content=body,
                                   headers={"content-type": "application/json",
                                            "authorization": self.headers.get("authorization", "")})
        if reply.status_code == 200:
            with server.lock:
                server.recorded[request] = (reply.status_code, reply.content)
        return reply.status_code, reply.content

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _error(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()


# -- fuzzing ----------------------------------------------------------------------------------------------

ODD_VALUES = (None, "", 0, -1, 2**63, 1e308, float("nan"), True, [], {}, [[[]]], "x" * 5000, "../../etc/passwd",
              "{{ 7*7 }}", "\u202e\u0000\ufffd", "<script>alert(1)</script>", {"a": [1, {"b": None}]}, "1e999")


def _mutate_value(value, rng: random.Random):
    """One change to a parsed YAML/JSON tree: a value replaced, a key dropped or added, an item duplicated."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        choice = rng.random()
        out = dict(value)
        if choice < 0.2:
            out.pop(key)
        elif choice < 0.3:
            out[rng.choice(["extra", "n", "task", key + "_"])] = rng.choice(ODD_VALUES)
        else:
            out[key] = _mutate_value(value[key], rng)
        return out
    if isinstance(value, list) and value and rng.random() < 0.7:
        out = list(value)
        i = rng.randrange(len(out))
        out[i] = _mutate_value(out[i], rng) if rng.random() < 0.8 else rng.choice(ODD_VALUES)
        return out + ([out[i]] if rng.random() < 0.1 else [])
    return rng.choice(ODD_VALUES)


def _mutate_text(text: str, rng: random.Random) -> str:
    """A change to the raw text: bytes cut, swapped or repeated, or the whole thing nested deep."""
    choice = rng.random()
    if choice < 0.05:
        return "[" * 50_000 + "]" * 50_000
    i, j = sorted(rng.randrange(len(text) + 1) for _ in range(2))
    if choice < 0.4:
        return text[:i] + text[j:]
    if choice < 0.7:
        return text[:i] + rng.choice(":-[]{}\"'\n\t&*!|>%@`\\\x00") + text[i:]
    return text[:i] + text[i:j] * rng.randint(2, 5) + text[j:]


def fuzzed_recipes(seed_text: str, n: int, seed: int = 0):
    """`n` broken variants of a valid recipe's YAML: tree mutations (dumped again) and raw text mutations."""
    rng = random.Random(seed)
    tree = yaml.safe_load(seed_text)
    for _ in range(n):
        if rng.random() < 0.6:
            mutated = tree
            for _ in range(rng.randint(1, 3)):
                mutated = _mutate_value(mutated, rng)
            yield yaml.safe_dump(mutated, allow_unicode=True)
        else:
            yield _mutate_text(seed_text, rng)


def fuzzed_files(seed_text: str, n: int, seed: int = 0):
    """`n` broken variants of a trajectory or question file (JSON, JSONL or CSV), mutated as text."""
    rng = random.Random(seed)
    for _ in range(n):
        text = seed_text
        for _ in range(rng.randint(1, 3)):
            text = _mutate_text(text, rng)
        yield text


def fuzz(cases, accept) -> dict[str, object]:
    """Feed every case to `accept`; a StudioError is a clean refusal, anything else a crash (with its type)."""
    from studio.errors import StudioError

    counts: Counter[str] = Counter()
    crashes: list[str] = []
    for case in cases:
        try:
            accept(case)
            counts["accepted"] += 1
        except StudioError:
            counts["refused"] += 1
        except Exception as exc:  # a crash: the finding this exists to report
            counts["crashed"] += 1
            crashes.append(f"{type(exc).__name__}: {str(exc)[:120]}")
    return {"cases": sum(counts.values()), **{k: counts[k] for k in ("accepted", "refused", "crashed")},
            "crashes": crashes}


def files_holding(folder, secret: str) -> list[str]:
    """Every file under `folder` whose bytes hold `secret`."""
    from pathlib import Path

    needle = secret.encode()
    return [str(p) for p in Path(folder).rglob("*") if p.is_file() and needle in p.read_bytes()]


def rows_holding(store, secret: str) -> list[str]:
    """`table.column` of every text column of the store with a value holding `secret`."""
    found = []
    for row in store.query("SELECT table_name, column_name FROM information_schema.columns "
                           "WHERE data_type IN ('VARCHAR', 'JSON') AND table_schema = 'main'"):
        table, column = row["table_name"], row["column_name"]
        hits = store.query(f'SELECT count(*) AS n FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                           [f"%{secret}%"])
        if hits[0]["n"]:
            found.append(f"{table}.{column}")
    return found


def fuzz_inputs(folder, recipes: int, files: int, seed: int = 0) -> dict[str, dict]:
    """Fuzz everything a user hands the studio: the quickstart recipe, an Alpaca and a chat trajectory file
    (the importer), a CSV and a JSONL question file (task `custom`). Results by kind, as `fuzz` gives them."""
    from pathlib import Path

    from studio.paths import ROOT
    from studio.recipe.io import parse_recipe
    from studio.scoring.kinds import task_score
    from studio.tasks.loaders import load_custom
    from studio.trajectories.files import episodes_from_file

    def reader(name: str, read):
        def accept(text: str) -> None:
            path = Path(folder) / name
            path.write_bytes(text.encode("utf-8", "replace"))
            read(path)
        return accept

    alpaca = ROOT / "studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json"
    chat = "\n".join(json.dumps({"messages": [{"role": "user", "content": f"Question: q{i}?"},
                                              {"role": "assistant", "content": "Thought: t\nAction: finish[y]"}]})
                     for i in range(3))
    seeds = {
        "alpaca file": (json.dumps(json.loads(alpaca.read_text())[:3], indent=1),
                        reader("t.json", lambda p: episodes_from_file(p, "alpaca", None, score=task_score))),
        "chat file": (chat, reader("t.jsonl", lambda p: episodes_from_file(p, "chat", None, score=task_score))),
        "question CSV": ("id,question,answer\n1,Who?,Bob\n2,\"Where, then?\",Paris\n", reader("q.csv", load_custom)),
        "question JSONL": ('{"question": "Who?", "answer": "Bob"}\n{"question": "Why?", "answer": 42}\n',
                           reader("q.jsonl", load_custom)),
    }
    out = {"recipe": fuzz(fuzzed_recipes((ROOT / "recipes/quickstart.yaml").read_text(), recipes, seed), parse_recipe)}
    for kind, (text, accept) in seeds.items():
        out[kind] = fuzz(fuzzed_files(text, files, seed + 1), accept)
    return out
