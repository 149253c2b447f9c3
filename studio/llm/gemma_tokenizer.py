"""A correct Gemma 3 tokenizer built from a GGUF file's metadata.

transformers 5.17 builds the Gemma 3 tokenizer wrongly from a GGUF file (no BOS, wrong pieces: a Unigram
model over scores that are really BPE ranks). This module builds what transformers 5.24 builds: a
`tokenizers` BPE model with byte fallback whose merges come from the token scores, the sentencepiece
normalizer (`' '` -> `'▁'`), a `<bos>` template and the byte-fallback decoder. It reads the GGUF header
itself (a few hundred milliseconds) rather than through `gguf.GGUFReader` (about ten seconds).
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

# sentencepiece piece types, as llama.cpp stores them in `tokenizer.ggml.token_type`
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Chat-turn markers: special whatever type the file gives them, so `skip_special_tokens` drops them.
TURN_TOKENS = ("<start_of_turn>", "<end_of_turn>")

# Gemma 3's chat template (text only): a system message is folded into the first user turn, and the
# assistant's turns are the "model" role.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<start_of_turn>model\\n' }}"
    "{%- endif -%}"
)

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9


def read_gguf_metadata(gguf_path: str | Path) -> dict[str, Any]:
    """All metadata key/values of a GGUF (v2/v3) file; numeric arrays as lists, tensor data untouched."""
    import numpy as np

    with open(gguf_path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as blob:
        if blob[:4] != b"GGUF":
            raise ValueError(f"{gguf_path} is not a GGUF file")
        version, _tensor_count, kv_count = struct.unpack_from("<IQQ", blob, 4)
        if version not in (2, 3):
            raise ValueError(f"{gguf_path}: GGUF version {version} is not supported")
        pos = 24

        def read_string(pos: int) -> tuple[str, int]:
            (length,) = struct.unpack_from("<Q", blob, pos)
            pos += 8
            return blob[pos : pos + length].decode("utf-8", errors="replace"), pos + length

        def read_value(pos: int, value_type: int) -> tuple[Any, int]:
            if value_type in _SCALAR:
                fmt = _SCALAR[value_type]
                return struct.unpack_from(fmt, blob, pos)[0], pos + struct.calcsize(fmt)
            if value_type == _STRING:
                return read_string(pos)
            if value_type == _ARRAY:
                element_type, count = struct.unpack_from("<IQ", blob, pos)
                pos += 12
                if element_type in _NUMPY:
                    dtype = np.dtype(_NUMPY[element_type])
                    values = np.frombuffer(blob, dtype=dtype, count=count, offset=pos).tolist()
                    return values, pos + count * dtype.itemsize
                values = []
                for _ in range(count):
                    value, pos = read_value(pos, element_type)
                    values.append(value)
                return values, pos
            raise ValueError(f"{gguf_path}: unknown GGUF metadata value type {value_type}")

        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key, pos = read_string(pos)
            (value_type,) = struct.unpack_from("<I", blob, pos)
            metadata[key], pos = read_value(pos + 4, value_type)
    return metadata


def gemma_vocab(tokens: list[str]) -> list[str]:
    """The GGUF pieces as the tokenizer sees them: whitespace-only pieces written with `'▁'` for `' '`.

    llama.cpp stores the user-defined runs of spaces (ids 138-167) with real spaces; after the normalizer
    turns spaces into `'▁'` they can only match, and merge, as `'▁▁'`, `'▁▁▁'`, ...
    """
    return ["▁" * len(t) if " " in t and not t.strip() else t for t in tokens]


def generate_merges(vocab: dict[str, int], scores: list[float]) -> list[tuple[str, str]]:
    """BPE merges from a sentencepiece-style vocabulary whose scores are merge priorities.

    Every split of a piece into two pieces that are both in the vocabulary is a merge; merges are ordered
    by the score of the merged piece (highest first), ties broken by the longer left part, then by the id of
    the merged piece -- the order of transformers' `generate_merges(vocab, vocab_scores)`.
    """
    merges: list[tuple[float, int, int, int, str, str]] = []
    append = merges.append
    for piece, piece_id in vocab.items():
        score = scores[piece_id]
        for i in range(1, len(piece)):
            left_id = vocab.get(piece[:i])
            if left_id is None:
                continue
            right_id = vocab.get(piece[i:])
            if right_id is None:
                continue
            # score desc, len(left) desc, len(right) desc, then vocabulary order of the merged piece
            append((-score, -i, i - len(piece), piece_id, piece[:i], piece[i:]))
    merges.sort(key=lambda m: m[:4])
    return [(m[4], m[5]) for m in merges]


def build_gemma3_tokenizer(gguf_path: str | Path) -> PreTrainedTokenizerFast:
    """The Gemma 3 fast tokenizer described by `gguf_path`'s metadata (bos=2, eos=1, pad=0)."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    meta = read_gguf_metadata(gguf_path)
    if (kind := meta.get("tokenizer.ggml.model")) != "llama":
        raise ValueError(f"{gguf_path}: expected a sentencepiece ('llama') vocabulary, got {kind!r}")
    tokens = gemma_vocab(meta["tokenizer.ggml.tokens"])
    scores = meta["tokenizer.ggml.scores"]
    types = meta["tokenizer.ggml.token_type"]
    if not (len(tokens) == len(scores) == len(types)):
        raise ValueError(f"{gguf_path}: tokens, scores and token types differ in length")

    vocab = {piece: i for i, piece in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError(f"{gguf_path}: the vocabulary has duplicate pieces")
    merges = generate_merges(vocab, scores)

    def token(key: str, default: int) -> str:
        return tokens[int(meta.get(f"tokenizer.ggml.{key}_token_id", default))]

    bos, eos, pad, unk = token("bos", 2), token("eos", 1), token("padding", 0), token("unknown", 3)

    backend = Tokenizer(BPE(vocab, merges, unk_token=unk, fuse_unk=True, byte_fallback=True, dropout=None))
    # Control pieces are special and matched in the raw text. User-defined pieces ("\n\n", "\t", "▁▁",
    # "<table>", ...) are whole tokens matched in the normalized text, as sentencepiece does: "  x" is
    # "▁▁" + "x", not "▁" + "▁x".
    added = [
        AddedToken(piece, normalized=False, special=True)
        if types[i] == CONTROL or piece in TURN_TOKENS
        else AddedToken(piece, normalized=True, special=False)
        for i, piece in enumerate(tokens)
        if types[i] in (CONTROL, USER_DEFINED)
    ]
    backend.add_tokens(added)
    backend.normalizer = normalizers.Replace(" ", "▁")
    backend.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    if meta.get("tokenizer.ggml.add_bos_token", True):
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos}:0 $A:0",
            pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
            special_tokens=[(bos, vocab[bos])],
        )

    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token=eos,
        pad_token=pad,
        unk_token=unk,
        additional_special_tokens=[t for t in TURN_TOKENS if t in vocab],
        add_bos_token=True,
        add_eos_token=False,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_max_length=int(meta.get("gemma3.context_length", 32768)),
        chat_template=meta.get("tokenizer.chat_template") or GEMMA3_CHAT_TEMPLATE,
    )
