"""The one place that decides what a recipe may reach: endpoints, models, files and recipe names.

A recipe only chooses among what the owner's config declares (`studio.owner.config`). The recipe schema calls
these checks while it validates with the config as its context (`parse_recipe` always passes it), so the CLI,
the studio's form and every stage get the same answer from the same code. Python code that builds recipe
sections itself (the studio's own engines, tests) passes no context: it is the owner's code.

Each check raises `Refused` (a ValueError, so pydantic reports it at the field) with one line that says what to
do; a refused path is never told apart from a missing one, so the messages reveal nothing outside the roots.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from studio.errors import StudioError
from studio.owner.config import DEFAULT_ENDPOINT, Endpoint, OwnerConfig, SearchEndpoint
from studio.paths import ROOT

HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
RECIPE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # the Recipe's own `name` pattern
CODE_FILES = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")


class Refused(StudioError, ValueError):
    """A recipe value the owner's config does not allow; `field` (when set) is the field to blame instead of
    the one being validated (`base_url` for a teacher checked as a whole)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


# -- files ----------------------------------------------------------------------------------------------


def data_file(value: str, owner: OwnerConfig) -> Path:
    """The file a recipe names (relative paths start at the studio's folder), inside a data root, links
    followed. Outside, with `..`, or missing: one line that does not tell which."""
    roots = owner.data_roots
    where = ", ".join(_shown(r) for r in roots)
    shown = value if len(value) <= 120 else value[:117] + "..."
    refused = Refused(f"{shown} is not a file in the studio's data folders ({where}): upload it in the Recipes tab, "
                      f"or declare its folder under `data.roots` in {owner.where}")
    raw = Path(value).expanduser()
    if ".." in raw.parts:
        raise refused
    try:
        path = (raw if raw.is_absolute() else ROOT / raw).resolve()
        found = _inside(path, roots) and path.is_file()
    except (OSError, RuntimeError):  # a name too long for the file system, a link loop
        found = False
    if not found:
        raise refused
    return path


# -- endpoints ------------------------------------------------------------------------------------------


def _urls(value: str | Sequence[str]) -> set[str]:
    return {u.rstrip("/") for u in ([value] if isinstance(value, str) else value)}


def _declare_hint(owner: OwnerConfig) -> str:
    return (f"declare it in {owner.where}, e.g. "
            '`"endpoints": {"local": {"base_url": "http://127.0.0.1:8080/v1"}}`')


def endpoint(owner: OwnerConfig, section: str, name: str | None, base_url: str | Sequence[str] | None,
             url_given: bool, api_key_env: str | None, key_given: bool, model: str | None = None) -> Endpoint:
    """The declared endpoint a recipe section (`teacher`, `...scorer`, `evaluation.engine`) reaches: the one it
    names, else the one whose servers are its `base_url` (recipes written before endpoints were declared), else
    (neither given) the one declared as `openai`. Its
    key variable is the declared one; a recipe that asks for another key, or another model than the endpoint
    allows, is refused."""
    declared = ", ".join(sorted(owner.endpoints)) or "none"
    if name is None and not url_given:  # the section's default: whatever the owner declares as `openai`
        name = DEFAULT_ENDPOINT
    if name is not None:
        found = owner.endpoints.get(name)
        if found is None:
            raise Refused(f"no endpoint named {name!r} is declared (declared: {declared}); "
                          + _declare_hint(owner), field="endpoint")
        if url_given and base_url is not None and _urls(base_url) != set(found.base_url):
            raise Refused(f"endpoint {name} is {', '.join(found.base_url)}; leave `base_url` out (the endpoint "
                          "sets it)", field="base_url")
    else:
        urls = _urls(base_url or ())
        found = next((e for e in owner.endpoints.values() if set(e.base_url) == urls), None)
        if found is None:
            raise Refused(f"{', '.join(sorted(urls))} is not an endpoint the studio's owner declared (declared: "
                          f"{declared}); name one in `{section}.endpoint`, or " + _declare_hint(owner),
                          field="base_url")
    if key_given and api_key_env != found.api_key_env:
        sent = found.api_key_env or "no key"
        raise Refused(f"endpoint {found.name} gets {sent} (declared by the studio's owner); a recipe cannot "
                      "choose which secret is sent: leave `api_key_env` out", field="api_key_env")
    if model is not None and found.models is not None and model not in found.models:
        raise Refused(f"endpoint {found.name} allows the models {', '.join(found.models)}, not {model!r}",
                      field="model")
    return found


def search_endpoint(owner: OwnerConfig, backend: str, base_url: str | None, api_key_env: str | None,
                    key_given: bool) -> SearchEndpoint:
    """The declared endpoint of a remote search backend; a recipe may repeat its URL and key variable, never
    choose others."""
    found = owner.search[backend]
    if base_url is not None and base_url.rstrip("/") != found.base_url.rstrip("/"):
        raise Refused(f"search `{backend}` goes to {found.base_url} (declared by the studio's owner); leave "
                      f"`base_url` out, or have the owner set `search.{backend}.base_url` in {owner.where}",
                      field="base_url")
    if key_given and api_key_env != found.api_key_env:
        raise Refused(f"search `{backend}` gets {found.api_key_env or 'no key'} (declared by the studio's owner); "
                      "a recipe cannot choose which secret is sent: leave `api_key_env` out", field="api_key_env")
    return found


# -- models ---------------------------------------------------------------------------------------------


def refuse_model_code(folder: Path, name: str) -> None:
    """A model folder that ships its own Python (an `auto_map` in its configs, or .py files) is refused: the
    studio never runs a model's code, in a load or in llama.cpp's converters."""
    for file in CODE_FILES:
        try:
            config = json.loads((folder / file).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and config.get("auto_map"):
            raise Refused(f"model {name} ships its own code (`auto_map` in {file}); the studio never runs a "
                          "model's code: use a model that the libraries support without it")
    if any(folder.glob("*.py")):
        raise Refused(f"model {name} ships Python files; the studio never runs a model's code: use a model "
                      "folder without them")


def model(value: str, owner: OwnerConfig, bundled: str) -> str:
    """`value` as the studio may load it: the bundled model, a folder inside a model root (an absolute path, or
    a name under a root; given back as its absolute path, so no load looks elsewhere), or a Hugging Face id when
    the owner allows downloads."""
    if value.startswith("bundled:"):
        if value != bundled:
            raise Refused(f"the bundled model is {bundled!r}")
        return value
    roots = ", ".join(_shown(r) for r in owner.model_roots)
    raw = Path(value).expanduser()
    if ".." not in raw.parts:
        candidates = [raw] if raw.is_absolute() else [root / raw for root in owner.model_roots]
        for candidate in candidates:
            try:
                folder = candidate.resolve()
                if _inside(folder, owner.model_roots) and folder.is_dir():
                    refuse_model_code(folder, value)
                    return str(folder)
            except (OSError, RuntimeError):
                continue
    if HF_ID.match(value) and owner.allow_downloads:
        return value
    if HF_ID.match(value):
        raise Refused(f"{value} is no folder in the studio's model folders ({roots}) and downloads from Hugging "
                      f"Face are off; the studio's owner turns them on with `models.allow_downloads` in "
                      f"{owner.where}, or puts the model under `models.roots`")
    raise Refused(f"no model folder {value} in the studio's model folders ({roots}); give `{bundled}`, a folder "
                  f"under `models.roots` in {owner.where}, or a Hugging Face id (org/name) where downloads are on")


# -- recipe names ---------------------------------------------------------------------------------------


def server(owner: OwnerConfig, name: str) -> str:
    """`name` if the config declares an MCP server of that name; else what is declared, with the nearest name."""
    if name in owner.servers:
        return name
    near = difflib.get_close_matches(name, owner.servers, n=1)
    hint = f"; did you mean `{near[0]}`?" if near else ""
    declared = ", ".join(sorted(owner.servers))
    raise Refused(f"MCP server `{name}` is not declared in {owner.where}{hint} (declared: {declared})")


def unknown_scorer(name: str, declared: Mapping[str, object]) -> str:
    """The message for a recipe naming a Python scorer the config file does not declare."""
    listed = ", ".join(sorted(declared)) or "none"
    return f"no scorer {name!r} is declared in the `scorers` section of the studio's config file (declared: {listed})"


def recipe_name(name: str) -> str:
    """A recipe name typed anywhere (Open, Start, Export, the Playground): a plain name, never a path, so it
    resolves only to `NAME.yaml` in the recipes folders."""
    if not RECIPE_NAME.match(name or ""):
        raise Refused(f"{name!r} is not a recipe name (lower case letters, digits, - and _): recipes are opened "
                      "by name from the recipes folder, never by path")
    return name
