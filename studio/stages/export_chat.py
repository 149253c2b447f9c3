"""The exported agent as a chat endpoint with tools: which chat template goes with it, and the Ollama Modelfile
and serving commands that use that template.

An agent trained in the `tools` format (or on chat prompts) is served by any OpenAI-compatible server that renders
its chat template and reads its Hermes `<tool_call>` blocks back as `tool_calls`: `llama-server --jinja` (the
template in the GGUF's `tokenizer.chat_template`), vLLM (`--chat-template` with its `hermes` parser) and Ollama
(the template in Go's syntax in the Modelfile).
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.llm.chat_template import GEMMA3_TOOLS, TEMPLATES, ChatTemplate, tokenizer_template
from studio.recipe.schema import Recipe

TEMPLATE_FILE = "chat_template.jinja"
VLLM_TOOLS = f"--enable-auto-tool-choice --tool-call-parser hermes --chat-template {TEMPLATE_FILE}"  # calls parsed back
OLLAMA_GEMMA3_TOOLS = TEMPLATES / "gemma3_tools.ollama"  # gemma3_tools.jinja in Ollama's Go template syntax


def chat_agent(recipe: Recipe) -> bool:
    """Whether the agent is prompted through a chat template (else it reads the plain ReAct text)."""
    return recipe.format == "tools" or recipe.student.prompt_format == "chat"


def agent_template(adapter: Path, recipe: Recipe) -> ChatTemplate | None:
    """The chat template the agent was trained with: the one saved with its adapter when it renders tools (training
    saves the template it rendered), else the one the recipe picks for its student; None for a plain-text agent."""
    from transformers import AutoTokenizer

    if not chat_agent(recipe):
        return None
    tokenizer = AutoTokenizer.from_pretrained(str(adapter), trust_remote_code=False)
    saved = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    if saved and ("tools" in saved or recipe.format != "tools"):
        return ChatTemplate(saved, tokenizer.bos_token or "", tokenizer.eos_token or "", "the adapter's")
    return tokenizer_template(tokenizer, recipe.student.chat_template)


def ollama_template(template: ChatTemplate) -> str | None:
    """The template in Ollama's Go syntax, known for the studio's Gemma 3 tools template; None for another (Ollama
    then picks a template from the GGUF's own)."""
    if template.source != GEMMA3_TOOLS.read_text(encoding="utf-8"):
        return None
    return OLLAMA_GEMMA3_TOOLS.read_text(encoding="utf-8")


def chat_modelfile(template: ChatTemplate, model_file: str, adapter_file: str | None = None) -> str:
    """An Ollama Modelfile for a chat agent: the weights, its chat template with tools, its stop strings, greedy
    decoding. Tools go in `/api/chat`'s `tools`; calls come back in `message.tool_calls`."""
    lines = ["# Ollama: ollama create NAME -f THIS_FILE, then POST /api/chat with messages and tools (see README.md)",
             f"FROM ./{model_file}"]
    if adapter_file:
        lines.append(f"ADAPTER ./{adapter_file}")
    go = ollama_template(template)
    if go is None:
        lines.append(f"# TEMPLATE: {template.name} has no Ollama translation here; Ollama takes the GGUF's own")
    else:
        lines.append('TEMPLATE """' + go.rstrip("\n") + '"""')
    lines += [*[f"PARAMETER stop {json.dumps(s)}" for s in template.stops],
              "PARAMETER temperature 0",
              "PARAMETER num_ctx 4096"]
    return "\n".join(lines) + "\n"


def serving_section(fmt: str, files: list[str]) -> str:
    """How to serve the exported agent with tools (model card section), for the export format's files."""
    request = ("client.chat.completions.create(model=..., messages=[...], tools=[...])` (OpenAI's client); the "
               "reply's `message.tool_calls` are the agent's calls, its `content` the thought (and, on the last "
               "turn, `Answer: ...`). Send each result back as a `tool` message and call again.")
    if fmt == "gguf":
        merged, lora, base = files[:3]
        return f"""Served as a tool-calling chat endpoint: the GGUF files carry the agent's chat template \
(`tokenizer.chat_template`, also in `{TEMPLATE_FILE}`), which renders the tools and the calls.

- llama.cpp: `llama-server --jinja -m {merged}` (or `-m {base} --lora {lora}`), then \
`{request}
- Ollama: `ollama create agent -f Modelfile.merged` (or `-f Modelfile`, base + adapter), then \
`POST /api/chat` with `"messages"` and `"tools"` (or `ollama.chat(model="agent", messages=..., tools=...)`); the \
calls come back in `message.tool_calls`.
- vLLM serves the transformers model: export it with `--format merged`.
"""
    if fmt == "merged":
        return f"""Served as a tool-calling chat endpoint: `model/` saves the agent's chat template with its \
tokenizer, and `{TEMPLATE_FILE}` is the same template on its own.

- vLLM: `vllm serve model {VLLM_TOOLS}`, \
then `{request}
- transformers: `tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True)`.
"""
    return f"""The agent is prompted through the chat template in `{TEMPLATE_FILE}` (saved with the adapter's \
tokenizer too): `tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True)`. vLLM: \
`vllm serve BASE --enable-lora --lora-modules agent=adapter {VLLM_TOOLS}`, then `{request}
"""
