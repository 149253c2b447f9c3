"""Where a local model runs: one context manager that yields a `Backend` on the recipe's engine and stops
whatever it started (a llama-server, a vLLM server) when the job ends, is cancelled, or fails.

* `transformers`: the studio's own batched engine (`studio.llm.local.LocalBackend`), base model + PEFT adapter.
* `llama.cpp`: llama-server on the model's GGUF, the adapter converted to a GGUF LoRA, one slot per episode in
  flight; the agent loop talks to it through the OpenAI-compatible backend (`api: completions`).
* `vllm`: `vllm serve BASE --enable-lora --lora-modules NAME=ADAPTER` (CUDA), same protocol.
* `server`: an OpenAI-compatible server someone already runs (a fleet); the adapter is chosen by model name.

`auto` is llama.cpp on a CPU (measured faster than transformers here: `benchmarks/engine_throughput.py`) and
vLLM on a CUDA GPU when it is installed, else transformers.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from studio.errors import StudioError
from studio.llm.base import Backend
from studio.llm.llama_cpp import LlamaCppError, ServerProcess
from studio.recipe.schema import Engine, Servers, Teacher

VLLM_INSTALL = "pip install vllm (on a machine with a CUDA GPU)"
SERVER_RETRIES = 2  # a server of ours that stops answering fails its episodes fast; a rerun retries them
MIN_SHARED_CHARS = 1000  # prompts sharing fewer characters are not worth priming the slots for
PRELOADED = {  # package: {module: the names taken from it}, as local.py, kv_slots.py and chat_template.py take them
    "transformers": {"torch": (), "transformers": ("AutoTokenizer", "AutoModelForCausalLM", "AttentionInterface"),
                     "transformers.cache_utils": ("Cache", "DynamicLayer"),
                     "transformers.utils.chat_template_utils": ("render_jinja_template",)},
    "peft": {"peft": ("PeftModel",)},
}
_PRELOADING = threading.Lock()


class EngineError(StudioError, RuntimeError):
    """An engine cannot start or is not installed; the message says what to do."""


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None or shutil.which("vllm") is not None


def _llama_cpp_installed() -> bool:
    from studio.llm.llama_cpp import binary

    try:
        binary("llama-server")
    except LlamaCppError:
        return False
    return True


def resolved_name(engine: Engine) -> str:
    """The engine `auto` stands for on this machine; any other name as given."""
    if engine.name != "auto":
        return engine.name
    if _cuda():
        return "vllm" if _vllm_installed() else "transformers"
    return "llama.cpp" if _llama_cpp_installed() else "transformers"


def preload(packages: set[str]) -> None:
    """Import `packages` ("transformers", "peft") and what the engines and chat templates take from them, here.

    Two threads importing transformers for the first time at once fail about one run in three ("cannot import name
    'AutoTokenizer' from 'transformers'"), and the engines import it lazily: whoever starts threads that open
    backends or chat templates (the playground's lanes) imports it once first, in its own thread; a lock keeps two
    such callers (two questions asked at once) from importing it together."""
    with _PRELOADING:
        for package in sorted(packages, key=list(PRELOADED).index):
            for module, names in PRELOADED[package].items():
                loaded = importlib.import_module(module)
                for name in names:  # transformers' names are lazy: taking one imports its module
                    getattr(loaded, name)


def label(model: str, adapter: str | None, engine: str) -> str:
    """The model name stored with each episode: which weights, on which engine."""
    return f"{model}{' + adapter' if adapter else ''} ({engine})"


def shared_prefix(prompts: list[str]) -> str:
    """The lines every prompt begins with (a few-shot prompt's examples)."""
    first, last = min(prompts), max(prompts)  # the common prefix of all is that of the two extremes
    size = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last)))
    return first[: first.rfind("\n", 0, size) + 1]


def _client(base_url: Servers, model: str, engine: Engine, max_tokens: int, api_key_env: str | None = None,
            server: ServerProcess | None = None, temperature: float = 0.0):
    from studio.llm.openai_compat import OpenAIBackend

    class PrimingBackend(OpenAIBackend):
        """A llama-server of ours: before the first call, the prompts' shared lines are computed once and
        copied into every slot (`prime_slots`), instead of once per slot."""

        primed = False

        def generate(self, requests, stop, max_tokens):
            if not self.primed and server is not None and len(requests) > 1:
                prefix = shared_prefix([r.prompt for r in requests])
                if len(prefix) >= MIN_SHARED_CHARS:
                    from studio.llm.llama_cpp import prime_slots

                    with contextlib.suppress(OSError):  # only a speed-up: a server that fails it fails the calls
                        prime_slots(server, prefix, engine.parallel)
            self.primed = True
            return super().generate(requests, stop, max_tokens)

    teacher = Teacher(backend="openai", model=model, base_url=base_url, api_key_env=api_key_env or engine.api_key_env,
                      api="completions", temperature=temperature, max_tokens=max_tokens, concurrency=engine.parallel,
                      timeout_s=600.0, max_retries=SERVER_RETRIES, price_input_per_m=0.0, price_output_per_m=0.0)
    return PrimingBackend(teacher, backoff_s=0.5)


@contextlib.contextmanager
def open_backend(engine: Engine, model: str, adapter: str | None, *, max_tokens: int,
                 temperature: float = 0.0) -> Iterator[Backend]:
    """A backend for `model` (+ `adapter`) on `engine`, open for the duration of the `with` block; greedy unless
    a sampling `temperature` is given."""
    name = resolved_name(engine)
    if name == "transformers":
        from studio.llm.local import LocalBackend

        backend = LocalBackend(model, adapter=adapter, temperature=temperature)
        backend.model = label(model, adapter, name)  # as on every engine: which weights, where
        yield backend
        return
    if name == "server":
        served = engine.adapter_name if adapter else (engine.base_model_name or model)
        with _client(engine.base_url, served, engine, max_tokens, temperature=temperature) as backend:
            yield backend
        return
    with (_start_server(name, engine, model, adapter) as (server, served),
          _client(server.base_url, served, engine, max_tokens, api_key_env="STUDIO_LOCAL_SERVER_KEY",
                  server=server if name == "llama.cpp" else None, temperature=temperature) as backend):
        backend.model = label(model, adapter, name)
        yield backend


@contextlib.contextmanager
def _start_server(name: str, engine: Engine, model: str, adapter: str | None) -> Iterator[tuple[ServerProcess, str]]:
    try:
        if name == "llama.cpp":
            from studio.llm.gguf_files import adapter_gguf, base_gguf
            from studio.llm.llama_cpp import llama_server

            lora = adapter_gguf(adapter, model) if adapter else None
            server = llama_server(base_gguf(model), lora=lora, parallel=engine.parallel,
                                  ctx_per_slot=engine.ctx_per_slot, threads=engine.threads, port=engine.port,
                                  alias=label(model, adapter, name))
            served = label(model, adapter, name)
        else:
            server, served = vllm_server(engine, model, adapter)
        with server:
            yield server, served
    except LlamaCppError as exc:
        raise EngineError(str(exc)) from None


def vllm_command(engine: Engine, model: str, adapter: str | None, port: int) -> list[str]:
    """`vllm serve` for the base model, with the adapter as a LoRA module named `engine.adapter_name`."""
    from studio.llm.bundled import resolve_model

    exe = shutil.which("vllm")
    cmd = [exe, "serve"] if exe else [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve"]
    cmd += [resolve_model(model), "--host", "127.0.0.1", "--port", str(port), "--served-model-name", model,
            "--max-num-seqs", str(engine.parallel)]
    if adapter:
        rank = json.loads((Path(adapter) / "adapter_config.json").read_text())["r"]
        cmd += ["--enable-lora", "--max-lora-rank", str(rank), "--lora-modules", f"{engine.adapter_name}={adapter}"]
    return cmd


def vllm_server(engine: Engine, model: str, adapter: str | None) -> tuple[ServerProcess, str]:
    if not _vllm_installed():
        raise EngineError(f"engine vllm: vLLM is not installed here: {VLLM_INSTALL}")
    if not _cuda():
        raise EngineError("engine vllm needs a CUDA GPU; on a CPU choose engine llama.cpp or transformers")
    server = ServerProcess(lambda port: vllm_command(engine, model, adapter, port), "127.0.0.1", engine.port,
                           name="vllm", health_path="/health", startup_timeout_s=900)
    return server, engine.adapter_name if adapter else model


def teacher_in_flight(teacher: Teacher) -> int:
    """Episodes the teacher advances at once: its endpoint's concurrency, or its local engine's slots."""
    return teacher.concurrency if teacher.backend == "openai" else teacher.engine.parallel


@contextlib.contextmanager
def open_teacher(teacher: Teacher) -> Iterator[Backend]:
    """The teacher's backend: its OpenAI-compatible endpoint, or a local model on its engine."""
    if teacher.backend == "local":
        with open_backend(teacher.engine, teacher.model, None, max_tokens=teacher.max_tokens) as backend:
            yield backend
        return
    from studio.llm.openai_compat import OpenAIBackend

    with OpenAIBackend(teacher) as backend:
        yield backend
