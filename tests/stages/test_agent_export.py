"""Export: the fine-tuned agent as a portable PEFT adapter, a merged model, and GGUF files that llama.cpp runs
with the scores of the studio's own engine; an Ollama Modelfile in the agent's own prompt format."""

from __future__ import annotations

import json
import shutil

import pytest

from storage import Store
from studio.agents.react_step import STOP
from studio.errors import StudioError
from studio.paths import ROOT
from studio.recipe.io import load_recipe
from studio.results.scores import scores
from studio.stages.evaluate import evaluate
from studio.stages.export import export_agent
from studio.stages.playground import with_engine

pytestmark = pytest.mark.slow

# Engines differ in arithmetic (llama.cpp computes in quantised and f16/f32 blocks, transformers in float32), so
# greedy decoding can take another word now and then; over 20 questions the EM of the engines on the same
# weights must agree within this many questions.
EM_TOLERANCE_QUESTIONS = 2


@pytest.fixture
def agent_store(trained_agent, tmp_path):
    recipe, db = trained_agent
    copy = tmp_path / "agent.duckdb"
    shutil.copyfile(db, copy)
    with Store(copy) as store:
        yield recipe, store


def _files_text(folder) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*")
                     if p.is_file() and p.suffix in (".json", ".yaml", ".md", "") and p.stat().st_size < 5_000_000)


def test_peft_export_names_no_path_of_this_machine(agent_store, tmp_path):
    recipe, store = agent_store
    out = tmp_path / "peft"
    result = export_agent(recipe, store, "peft", out)
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "google/gemma-3-270m"
    assert str(ROOT) not in _files_text(out) and "/.cache/" not in _files_text(out)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    # read back as the owner's config resolves it: the same recipe, its teacher now naming the endpoint it reaches
    assert load_recipe(out / "recipe.yaml").model_dump(exclude={"teacher": {"endpoint"}}) == recipe.model_dump(
        exclude={"teacher": {"endpoint"}})
    card = (out / "README.md").read_text()
    assert "Question: QUESTION\nThought:" in card and "google/gemma-3-270m" in card
    assert result.files == ["adapter/", "recipe.yaml", "README.md"]
    assert result.serving == ["vllm serve google/gemma-3-270m --enable-lora --lora-modules tiny-agent=adapter"]
    assert result.summary().endswith("serve it (in that folder) with:\n  " + result.serving[0])


def test_merged_export_is_a_transformers_folder(agent_store, tmp_path):
    from transformers import AutoConfig

    recipe, store = agent_store
    out = tmp_path / "merged"
    export_agent(recipe, store, "merged", out)
    assert AutoConfig.from_pretrained(out / "model").model_type.startswith("gemma3")
    assert (out / "model" / "tokenizer.json").is_file() and not (out / "model" / "adapter_config.json").exists()


def test_export_refuses_a_used_folder_and_a_recipe_without_adapter(agent_store, tmp_path, cli):
    recipe, store = agent_store
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(StudioError, match="folder is not empty"):
        export_agent(recipe, store, "gguf", used)
    assert [p.name for p in used.iterdir()] == ["keep.txt"]

    path = tmp_path / "untrained.yaml"
    path.write_text("name: untrained\n")
    done = cli("export-agent", str(path), "--format", "gguf", "-o", str(tmp_path / "out"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: recipe 'untrained' has no trained adapter yet: run its train stage first"]
    assert not (tmp_path / "out").exists()


def _em(store, result) -> tuple[float, float]:
    [row] = scores(store, [result.run_id])
    return row["em"], row["finished_pct"]


def test_gguf_export_runs_in_llama_cpp_like_the_transformers_engine(agent_store, tmp_path):
    from studio.llm.llama_cpp import llama_server

    recipe, store = agent_store
    out = tmp_path / "gguf"
    result = export_agent(recipe, store, "gguf", out, "q8_0")
    merged, lora = out / "tiny-agent-q8_0.gguf", out / "tiny-agent-lora-f32.gguf"
    base = out / "base-gemma-3-270m-q4_k_m.gguf"
    assert result.files[:3] == [merged.name, lora.name, base.name]
    assert result.serving == [f"llama-server -m {merged.name}", f"llama-server -m {base.name} --lora {lora.name}",
                              "ollama create tiny-agent -f Modelfile.merged"]
    assert all(p.stat().st_size > 1_000_000 for p in (merged, lora, base))

    modelfile = (out / "Modelfile").read_text().splitlines()
    assert f"FROM ./{base.name}" in modelfile and f"ADAPTER ./{lora.name}" in modelfile
    assert 'TEMPLATE """Question: {{ .Prompt }}' in modelfile and 'Thought:"""' in modelfile
    assert [line for line in modelfile if line.startswith("PARAMETER stop")] == \
        [f'PARAMETER stop "{s.lstrip()}"' for s in STOP] == ['PARAMETER stop "Observation:"',
                                                              'PARAMETER stop "Question:"']
    assert f"FROM ./{merged.name}" in (out / "Modelfile.merged").read_text()

    em = {"transformers": _em(store, evaluate(recipe, store))}
    em["llama.cpp base + GGUF LoRA"] = _em(store, evaluate(with_engine(recipe, "llama.cpp"), store))
    with llama_server(merged, parallel=4, ctx_per_slot=2048) as server:
        on_merged = recipe.model_copy(deep=True)
        on_merged.evaluation.engine = on_merged.evaluation.engine.model_copy(
            update={"name": "server", "base_url": server.base_url, "parallel": 4})
        em["llama.cpp merged Q8_0"] = _em(store, evaluate(on_merged, store))
    print(em)
    reference, _ = em["transformers"]
    for engine, (score, finished) in em.items():
        assert abs(score - reference) <= 100 * EM_TOLERANCE_QUESTIONS / 20, (engine, em)
        assert finished >= 80, (engine, em)
