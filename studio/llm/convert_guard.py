"""Runs one of llama.cpp's converter scripts with transformers unable to run a model's own code.

The converters load tokenizers of several architectures with `trust_remote_code=True`, so a model folder with an
`auto_map` would run its Python there. The studio refuses such folders before any conversion
(`studio.owner.checks.refuse_model_code`); this guard holds even for one that slipped past: transformers' three
doors to a model's code (`resolve_trust_remote_code`, `get_class_from_dynamic_module`, `get_class_in_module`) are
replaced, in `transformers.dynamic_module_utils` and in every module that already imported them, so that
`trust_remote_code=True` counts as False and a model that needs its code stops the converter with one line.

Run as `python -P studio/llm/convert_guard.py SCRIPT ARGS...` (or `-m studio.llm.convert_guard`): it imports only
the standard library and transformers, and the script sees the `sys.argv` and `sys.path` of `python SCRIPT`.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

MESSAGE = "model {} ships its own code; the studio never runs a model's code"


class RemoteCodeRefused(BaseException):
    """A load that would run a model's code. A BaseException, so a converter's `except Exception` fallback cannot
    swallow it and go on to another, less clear failure."""


def _resolve_trust_remote_code(trust_remote_code: bool | None, model_name: str, has_local_code: bool,
                               has_remote_code: bool, *args: Any, **kwargs: Any) -> bool:
    if has_remote_code and not has_local_code:
        raise RemoteCodeRefused(model_name)
    return False  # transformers then uses its own class, never the model's


def _get_class_from_dynamic_module(class_reference: str, pretrained_model_name_or_path: str, *args: Any,
                                   **kwargs: Any) -> type:
    raise RemoteCodeRefused(pretrained_model_name_or_path)


def _get_class_in_module(class_name: str, module_path: str, *args: Any, **kwargs: Any) -> type:
    raise RemoteCodeRefused(module_path)


def refuse_remote_code() -> None:
    """Replace transformers' remote-code functions wherever they are bound (modules imported later take the
    replacements from `dynamic_module_utils`)."""
    import transformers.dynamic_module_utils as dynamic

    replacements = {
        "resolve_trust_remote_code": _resolve_trust_remote_code,
        "get_class_from_dynamic_module": _get_class_from_dynamic_module,
        "get_class_in_module": _get_class_in_module,
    }
    modules = [m for name, m in list(sys.modules.items())
               if m is not None and (name == "transformers" or name.startswith("transformers."))]
    for name, new in replacements.items():
        old = getattr(dynamic, name)
        for module in modules:
            for attr, value in list(vars(module).items()):
                if value is old:
                    setattr(module, attr, new)


def main(argv: list[str]) -> int:
    """Run `argv[0]` as `python` would run it as a script, with `argv[1:]` as its arguments."""
    if not argv:
        print("usage: python -m studio.llm.convert_guard SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    script = str(Path(argv[0]).resolve())
    refuse_remote_code()
    sys.argv = [script, *argv[1:]]
    sys.path.insert(0, str(Path(script).parent))
    try:
        runpy.run_path(script, run_name="__main__")
    except RemoteCodeRefused as exc:
        print(MESSAGE.format(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
