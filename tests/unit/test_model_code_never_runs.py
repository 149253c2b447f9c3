"""A model folder that ships its own Python never runs it: refused while a recipe is validated (only the owner's
model roots, Hub ids only where downloads are on), again where a model is loaded (`resolve_model`), and inside
llama.cpp's converters, which load some tokenizers with `trust_remote_code=True` (`studio.llm.convert_guard`)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.paths import ROOT

BASE = "name: probe\ntrajectories: {source: import, path: studio/tasks/data/arithmetic/trajectories.json}\n"
REFUSED = "ships its own code; the studio never runs a model's code"  # the converter guard's line
NEVER = "the studio never runs a model's code"  # in every refusal


def evil_model(folder: Path, marker: Path, config: dict | None = None) -> Path:
    """A model folder whose tokenizer and config are its own Python: importing that code writes `marker`."""
    folder.mkdir(parents=True)
    code = {"AutoConfig": "tokenization_evil.EvilConfig", "AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    config = {"model_type": "evil", **(config or {})}
    (folder / "config.json").write_text(json.dumps({**config, "auto_map": code}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"auto_map": code}))
    (folder / "tokenization_evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nclass EvilConfig: ...\nclass EvilTokenizer: ...\n")
    return folder


def qwen_evil_model(folder: Path, marker: Path) -> Path:
    """An evil folder the converter takes for Qwen (1), whose vocabulary it loads with `trust_remote_code=True`:
    without the guard, `convert_hf_to_gguf.py` imports the folder's code."""
    import torch
    from safetensors.torch import save_file

    evil_model(folder, marker, {
        "architectures": ["QWenLMHeadModel"], "model_type": "qwen", "vocab_size": 16, "hidden_size": 8,
        "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 32,
        "seq_length": 32, "kv_channels": 4, "layer_norm_epsilon": 1e-6, "rotary_emb_base": 10000})
    save_file({"transformer.wte.weight": torch.zeros(16, 8)}, str(folder / "model.safetensors"))
    return folder


def owner(roots: tuple[Path, ...], downloads: bool = False):
    from studio.owner.config import load_config

    return dataclasses.replace(load_config(None), model_roots=tuple(r.resolve() for r in roots),
                               allow_downloads=downloads)


def problem(text: str, config) -> str:
    """The one problem `parse_recipe` reports for `text`."""
    from studio.recipe.io import RecipeError, parse_recipe

    with pytest.raises(RecipeError) as err:
        parse_recipe(text, "probe.yaml", config)
    [line] = err.value.problems
    return line


@pytest.mark.parametrize("section", ["student: {{model: '{}'}}", "teacher: {{backend: local, model: '{}'}}"],
                         ids=["student", "local teacher"])
def test_a_folder_with_model_code_under_a_root_is_refused_at_validation(tmp_path, section):
    marker = tmp_path / "ran.txt"
    folder = evil_model(tmp_path / "models" / "evil", marker)
    line = problem(BASE + section.format(folder) + "\n", owner((tmp_path,)))
    assert line.startswith(f"{section.split(':')[0]}.model: model {folder} ships its own code") and NEVER in line, line
    assert "\n" not in line and not marker.exists()


def test_a_folder_outside_the_roots_is_refused_without_telling_whether_it_exists(tmp_path):
    roots = (tmp_path / "models",)
    roots[0].mkdir()
    existing = evil_model(tmp_path / "elsewhere" / "evil", tmp_path / "ran.txt")
    shown = [problem(BASE + f"student: {{model: '{path}'}}\n", owner(roots)).replace(str(path), "PATH")
             for path in (existing, tmp_path / "elsewhere" / "missing")]
    assert shown[0] == shown[1] and shown[0].startswith("student.model: no model folder PATH"), shown
    assert "ships" not in shown[0] and not (tmp_path / "ran.txt").exists()


def test_a_hub_id_needs_the_owner_to_allow_downloads(tmp_path):
    from studio.recipe.io import parse_recipe

    text = BASE + "student: {model: evil-org/evil-model}\n"
    line = problem(text, owner((tmp_path,)))
    assert line.startswith("student.model: evil-org/evil-model is no folder") and "downloads" in line, line
    recipe = parse_recipe(text, "probe.yaml", owner((tmp_path,), downloads=True))
    assert recipe.student.model == "evil-org/evil-model"


def test_resolve_model_refuses_a_folder_with_model_code(tmp_path):
    from studio.llm.bundled import resolve_model
    from studio.owner.checks import Refused

    marker = tmp_path / "ran.txt"
    folder = evil_model(tmp_path / "evil", marker)
    with pytest.raises(Refused, match=f"model {folder} ships its own code.*{NEVER}"):
        resolve_model(str(folder))
    assert not marker.exists()


def test_resolve_model_fetches_a_hub_id_and_checks_it_for_model_code(tmp_path, monkeypatch):
    import huggingface_hub

    from studio.llm.bundled import resolve_model
    from studio.owner.checks import Refused

    marker = tmp_path / "ran.txt"
    snapshot = evil_model(tmp_path / "hub" / "snapshot", marker)
    plain = tmp_path / "hub" / "plain"
    plain.mkdir()
    (plain / "config.json").write_text(json.dumps({"model_type": "gemma3_text"}))
    fetched: list[str] = []

    def fake_download(model_id: str) -> str:
        fetched.append(model_id)
        return str(snapshot if model_id == "evil-org/evil-model" else plain)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    assert resolve_model("good-org/plain-model") == str(plain)
    with pytest.raises(Refused, match="model evil-org/evil-model ships its own code"):
        resolve_model("evil-org/evil-model")
    assert fetched == ["good-org/plain-model", "evil-org/evil-model"] and not marker.exists()


def test_resolve_model_takes_no_relative_folder_and_fails_in_one_line(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from studio.llm.bundled import ModelError, resolve_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "local-folder").mkdir()  # a name transformers would have looked up in the current directory
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    for name, expected in [("local-folder", "neither"), (str(tmp_path / "missing"), "no model folder"),
                           ("nobody-org/no-such-model", "could not fetch model nobody-org/no-such-model"),
                           ("bundled:no-such-model", "unknown bundled model")]:
        with pytest.raises(ModelError, match=expected) as err:
            resolve_model(name)
        assert "\n" not in str(err.value)


def test_base_gguf_refuses_a_folder_with_model_code_before_converting(tmp_path):
    from studio.llm.gguf_files import base_gguf
    from studio.owner.checks import Refused

    marker = tmp_path / "ran.txt"
    folder = qwen_evil_model(tmp_path / "qwen-evil", marker)
    with pytest.raises(Refused, match="ships its own code"):
        base_gguf(str(folder))
    assert not marker.exists()


def test_the_converter_never_runs_model_code_even_for_a_folder_that_slipped_past(tmp_path):
    from studio.llm.llama_cpp import LlamaCppError, python_tool

    marker = tmp_path / "ran.txt"
    folder = qwen_evil_model(tmp_path / "qwen-evil", marker)
    with pytest.raises(LlamaCppError) as err:
        python_tool("convert_hf_to_gguf.py", folder, "--outtype", "f16", "--outfile", tmp_path / "out.gguf",
                    what="converting qwen-evil to GGUF")
    assert f"model {folder} {REFUSED}" in str(err.value), str(err.value)
    assert not marker.exists() and not (tmp_path / "out.gguf").exists()


@pytest.mark.parametrize("config", [{}, {"model_type": "gemma3_text"}], ids=["unknown type", "known type"])
@pytest.mark.parametrize("auto", ["AutoTokenizer", "AutoConfig"])
def test_the_guard_turns_trust_remote_code_off(tmp_path, auto, config):
    """A load with `trust_remote_code=True` gets transformers' own class where it knows the architecture, and
    stops with the guard's line where it does not."""
    marker = tmp_path / "ran.txt"
    folder = evil_model(tmp_path / "evil", marker, config)
    script = tmp_path / "load.py"
    script.write_text(f"import sys\nfrom transformers import {auto}\nprint(sys.argv[1:])\n"
                      f"{auto}.from_pretrained(sys.argv[1], trust_remote_code=True)\n")
    done = subprocess.run([sys.executable, "-m", "studio.llm.convert_guard", str(script), str(folder)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert not marker.exists(), done.stderr
    assert f"[{str(folder)!r}]" in done.stdout  # the script got its own argv
    if config:
        assert done.returncode == 0 and REFUSED not in done.stderr, done.stderr
    else:
        assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == f"model {folder} {REFUSED}"
