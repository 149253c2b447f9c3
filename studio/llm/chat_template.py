"""A student's chat template with tools: rendering a conversation for the model, reading its calls back.

Every engine gets the same text: the loop renders the messages with the template (transformers' own Jinja
renderer, as `apply_chat_template` does) and completes them as plain text, so llama.cpp, vLLM, transformers and a
remote completions server all see what training saw. Calls are read back with the project's Hermes parser
(`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`); a call that cannot be read is reported, never
guessed at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from studio.errors import StudioError
from studio.trajectories.episode import question_block

TEMPLATES = Path(__file__).parent / "templates"
GEMMA3_TOOLS = TEMPLATES / "gemma3_tools.jinja"
CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_PROBE = "\x00probe\x00"


class ChatTemplateError(StudioError, ValueError):
    """A template that cannot render a conversation with tools; the message says which and why."""


@dataclass(frozen=True)
class ParsedCall:
    """A call as the model wrote it: `error` says why it cannot be made (bad JSON, no name)."""

    name: str
    arguments: str
    error: str | None = None


@dataclass(frozen=True)
class ChatTemplate:
    """A Jinja chat template and the special tokens it renders."""

    source: str
    bos_token: str = ""
    eos_token: str = ""
    name: str = field(default="", compare=False)

    def render(self, messages: list[dict[str, Any]], tools: list[dict] | None = None,
               add_generation_prompt: bool = False) -> str:
        """The conversation as the model reads it (`apply_chat_template(..., tokenize=False)`)."""
        from transformers.utils.chat_template_utils import render_jinja_template

        try:
            rendered, _ = render_jinja_template([messages], tools=tools or None, chat_template=self.source,
                                                add_generation_prompt=add_generation_prompt,
                                                bos_token=self.bos_token, eos_token=self.eos_token)
        except Exception as exc:  # jinja2's TemplateError, or the template's own raise_exception
            raise ChatTemplateError(f"chat template {self.name or ''} cannot render the conversation: {exc}"
                                    ) from None
        return rendered[0]

    @cached_property
    def end_of_turn(self) -> str:
        """What closes an assistant turn (`<end_of_turn>`, `<|im_end|>`): the stop string of a completion."""
        text = self.render([{"role": "user", "content": "q"}, {"role": "assistant", "content": _PROBE}])
        tail = text.split(_PROBE, 1)[1].strip()
        if not tail:
            raise ChatTemplateError(f"chat template {self.name or ''} writes nothing after an assistant turn")
        return tail.split()[0]

    @property
    def stops(self) -> list[str]:
        return [self.end_of_turn] + ([self.eos_token] if self.eos_token and self.eos_token != self.end_of_turn else [])


def parse_reply(text: str) -> tuple[str, list[ParsedCall]]:
    """A completion as (content, calls): the text before the first `<tool_call>` (as vLLM's Hermes parser reads it),
    and each block's call."""
    calls = [_parse_call(body.strip()) for body in CALL.findall(text)]
    return text.split("<tool_call>", 1)[0].strip(), calls


def _parse_call(body: str) -> ParsedCall:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return ParsedCall("", body, f"the call is not valid JSON ({exc.msg} at character {exc.pos}): {body[:200]}")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        return ParsedCall("", body, f'a call is {{"name": ..., "arguments": {{...}}}}, not: {body[:200]}')
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string, as the API carries them
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return ParsedCall(data["name"], arguments, f"the arguments of {data['name']} are not valid JSON")
    if not isinstance(arguments, dict):
        return ParsedCall(data["name"], json.dumps(arguments), f"the arguments of {data['name']} are not an object")
    return ParsedCall(data["name"], json.dumps(arguments, ensure_ascii=False))


def gemma3_tools() -> ChatTemplate:
    """The project's tool-calling template for Gemma 3 (whose own template has no tools)."""
    return ChatTemplate(GEMMA3_TOOLS.read_text(encoding="utf-8"), "<bos>", "<eos>", "gemma3_tools")


def question_turn(question: str) -> dict[str, str]:
    """The user turn that opens a `react` episode under `student.prompt_format: chat` (the plain prompt's text)."""
    return {"role": "user", "content": question_block(question)}


def chat_prefix(template: ChatTemplate, question: str) -> str:
    """The `react` format's prompt under `student.prompt_format: chat`: the question as a user turn and the model's
    turn opened, which the trajectory then continues (training renders the trajectory as that turn)."""
    return template.render([question_turn(question)], add_generation_prompt=True)


def tokenizer_template(tokenizer: Any, override: str | None = None, tools: bool = True) -> ChatTemplate:
    """The template a tokenizer's model is used with: `override` (a Jinja file) if given, else the tokenizer's own
    when it renders tools (any own template when `tools` is False: the `react` format's chat prompts list none), else
    the project's Gemma 3 template for a Gemma model."""
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    if override is not None:
        from studio.paths import resolve

        path = resolve(override)
        if not path.is_file():
            raise ChatTemplateError(f"student.chat_template: no file {path}")
        return ChatTemplate(path.read_text(encoding="utf-8"), bos, eos, path.name)
    own = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    if own and ("tools" in own or not tools):
        return ChatTemplate(own, bos, eos, "the model's own")
    if "<start_of_turn>" in tokenizer.get_vocab():
        return gemma3_tools()
    raise ChatTemplateError("the student's chat template has no tools and it is not a Gemma model: name a Jinja "
                            "template that renders `tools` in student.chat_template")


@lru_cache(maxsize=8)
def model_template(model: str, override: str | None = None, tools: bool = True) -> ChatTemplate:
    """The chat template of a model the recipe names (the bundled Gemma, a Hub id or a folder), as training picks it
    (`tools`: for the `tools` format; else for the `react` format's chat prompts)."""
    from transformers import AutoTokenizer

    from studio.llm.bundled import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(model), trust_remote_code=False)
    return tokenizer_template(tokenizer, override, tools)
