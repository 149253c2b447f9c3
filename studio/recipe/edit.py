"""Edit a recipe's YAML text in place: set or remove single fields and keep everything else the user wrote.

The studio's form changes one field at a time; rewriting the whole text from the form's values would drop the
user's comments, key order, explicit defaults and flow/block layout. `set_fields` loads the text with
ruamel.yaml's round-trip loader, changes only the given paths (containers merged item by item, so a comment
inside a task mix survives a change of one cell), and dumps it again with the text's own indentation.

The rest of the studio reads recipes with PyYAML (YAML 1.1): values written here are spelled so PyYAML reads
them back the same (`1.0e-05`, not `1e-05`; `'on'`, not `on`).
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Mapping
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from studio.recipe.io import RecipeError

DELETE = object()  # a change that removes the key (an optional field emptied)
KEY_LINE = re.compile(r"^(?P<indent> *)(?:- +)?[\w.-]+:\s*(?:#.*)?$")


def _float(representer: Any, value: float) -> Any:
    """Floats as YAML 1.1 reads them: a dot in the mantissa and a signed exponent (`1.0e-05`)."""
    if math.isnan(value):
        text = ".nan"
    elif math.isinf(value):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent if exponent[0] in '+-' else '+' + exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def _indents(text: str) -> tuple[int, int]:
    """(mapping indent, offset of a block sequence's dash) the text already uses; (2, 2) when it shows none."""
    mapping = offset = None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, below in itertools.pairwise(lines):
        head = KEY_LINE.match(line)
        if not head:
            continue
        step = len(below) - len(below.lstrip(" ")) - len(head["indent"])
        if step <= 0:
            continue
        if below.lstrip().startswith("- "):
            offset = step if offset is None else offset
        elif mapping is None and not line.lstrip().startswith("- "):
            mapping = step
    return mapping or 2, 2 if offset is None else offset


def _yaml(text: str) -> YAML:
    mapping, offset = _indents(text)
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    rt.representer.add_representer(float, _float)
    return rt


def _node(value: Any) -> Any:
    """A new value as ruamel nodes: mappings and lists of scalars in flow style (`{react: 2}`, `[react, cot]`),
    the others in block style; strings quoted where YAML 1.1 would read them as something else."""
    if isinstance(value, CommentedMap | CommentedSeq):
        return value
    if isinstance(value, Mapping | list):
        items = list(value.values() if isinstance(value, Mapping) else value)
        node = (CommentedMap((k, _node(v)) for k, v in value.items()) if isinstance(value, Mapping)
                else CommentedSeq(_node(v) for v in value))
        if any(isinstance(v, Mapping | list) for v in items):
            node.fa.set_block_style()
        else:
            node.fa.set_flow_style()
        return node
    if isinstance(value, str):
        try:
            plain = yaml.safe_load(value) == value and "\n" not in value
        except yaml.YAMLError:
            plain = False
        return value if plain else DoubleQuotedScalarString(value)
    return value


def _block(node: Any) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq) and len(node) > 0 and not node.fa.flow_style()


def _entry_tail(node: CommentedMap | CommentedSeq, key: Any) -> tuple[dict, Any, int]:
    """Where ruamel keeps the comment lines below an entry of a block container: the entry's own comment
    slot, or that of the last entry of the block container it holds, all the way down."""
    value = node[key]
    if _block(value):
        return _entry_tail(value, _last(value))
    return node.ca.items, key, 2 if isinstance(node, CommentedMap) else 0


def _last(node: CommentedMap | CommentedSeq) -> Any:
    return next(reversed(node)) if isinstance(node, CommentedMap) else len(node) - 1


def _split_tail(slot: tuple[dict, Any, int]) -> str:
    """Take the comment lines below an entry out of its slot; its end-of-line comment stays."""
    items, key, index = slot
    token = (items.get(key) or [None] * 4)[index]
    if token is None:
        return ""
    head, _, tail = token.value.partition("\n")
    token.value = head + "\n"
    return tail


def _add_tail(slot: tuple[dict, Any, int], lines: str) -> None:
    if not lines.strip():
        return
    items, key, index = slot
    entry = items.setdefault(key, [None] * 4)
    while len(entry) < 4:
        entry.append(None)
    if entry[index] is None:
        entry[index] = CommentToken("\n" + lines, CommentMark(0), None)
    else:
        entry[index].value = entry[index].value.rstrip("\n") + "\n" + lines


def _append(node: CommentedMap | CommentedSeq, key: Any, value: Any) -> None:
    """Add an entry last; the comment lines below the old last entry (a header of what follows, or the file's
    closing comments) move below the new one."""
    lines = _split_tail(_entry_tail(node, _last(node))) if _block(node) else ""
    if isinstance(node, CommentedMap):
        node[key] = value
    else:
        node.append(value)
    if lines:
        _add_tail(_entry_tail(node, key), lines)


def _remove(node: CommentedMap | CommentedSeq, key: Any, carried: str = "") -> str:
    """Remove an entry with its end-of-line comment; the comment lines below it (about what follows) move
    below the entry before it. Returns them when there is none (the first entry), for the caller to place."""
    keys = list(node) if isinstance(node, CommentedMap) else list(range(len(node)))
    i = keys.index(key)
    lines = (_split_tail(_entry_tail(node, key)) if _block(node) else "") + carried
    del node[key]
    if lines and i > 0:
        _add_tail(_entry_tail(node, keys[i - 1]), lines)
        return ""
    return lines


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _merge(old: Any, new: Any) -> Any:
    """`new` written over `old`, keeping `old`'s nodes (and their comments and style) where they say the same."""
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        for key in [k for k in old if k not in new]:
            _remove(old, key)
        for key, value in new.items():
            if key not in old:
                _append(old, key, _node(value))
            elif not _same(old[key], value):
                old[key] = _merge(old[key], value)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        while len(old) > len(new):
            _remove(old, len(old) - 1)
        for i, value in enumerate(new):
            if i >= len(old):
                _append(old, i, _node(value))
            elif not _same(old[i], value):
                old[i] = _merge(old[i], value)
        return old
    if _same(old, new):
        return old
    return _node(new)


def _set(doc: CommentedMap, path: str, value: Any) -> None:
    """Write one change at a dotted path, making the mappings on the way (in one block, so comments stay put);
    DELETE removes the key and then the mappings it leaves empty. A section given as a bare string is its
    `name` (`engine: llama.cpp` is `engine: {name: llama.cpp}`)."""
    parts = path.split(".")
    trail = [doc]
    for part in parts[:-1]:
        node = trail[-1]
        if isinstance(node.get(part), str):
            node[part] = _node({"name": node[part]})
        if not isinstance(node.get(part), CommentedMap):
            break
        trail.append(node[part])
    node, rest = trail[-1], parts[len(trail) - 1:]
    if value is DELETE:
        if len(rest) == 1 and rest[0] in node:
            lines = _remove(node, rest[0])
            for parent, key in zip(reversed(trail[:-1]), reversed(parts[:len(trail) - 1]), strict=True):
                if len(parent[key]):
                    break
                lines = _remove(parent, key, lines)
        return
    for part in reversed(rest[1:]):  # the mappings on the way, in block style
        value = CommentedMap([(part, _node(value))])
        value.fa.set_block_style()
    if rest[0] in node and len(rest) == 1:
        node[rest[0]] = _merge(node[rest[0]], value)
    elif rest[0] in node:  # a scalar where a mapping belongs: replaced
        node[rest[0]] = _node(value)
    else:
        _append(node, rest[0], _node(value))


def _load(text: str) -> CommentedMap:
    """The recipe text as a round-trip document; RecipeError when it does not parse or is not a mapping."""
    try:
        doc = _yaml(text).load(text) if text.strip() else CommentedMap()
    except RuamelError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise RecipeError([f"recipe: YAML syntax error: {getattr(exc, 'problem', exc)}{where}"]) from None
    if doc is None:
        return CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise RecipeError(["recipe: a recipe is a YAML mapping of fields (line 1)"])
    return doc


def set_fields(text: str, changes: Mapping[str, Any]) -> str:
    """`text` with each dotted path of `changes` set to its value (DELETE removes it), everything else as it
    was written: comments, key order, explicit defaults, quoting and flow or block style. New keys go last in
    their mapping. RecipeError when the text is not a YAML mapping."""
    if not changes:
        return text
    comments_only = bool(text.strip()) and all(not line.strip() or line.lstrip().startswith("#")
                                               for line in text.splitlines())
    doc = _load(text)
    for path, value in changes.items():
        _set(doc, path, value)
    out = io.StringIO()
    _yaml(text).dump(doc, out)
    # a text of comments only loads as nothing: the comments stay on top
    return (text.rstrip("\n") + "\n" if comments_only else "") + out.getvalue()
