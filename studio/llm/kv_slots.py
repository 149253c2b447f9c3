"""The KV cache behind `LocalBackend` (studio/llm/local.py): batches ("groups") of rows with per-slot positions,
and the attention function that reads them. Imports torch and transformers lazily, nothing else of the studio.

All requests of a `generate` call advance together: one batched forward per new token, up to `max_batch` rows.
Batched output equals unbatched output token for token, across agent steps and past Gemma 3's 512-token
sliding window, because the KV cache is managed here rather than by re-padding prompts:

* A batch ("group") holds one row per episode key, all rows with the same number of cache slots. A slot holds
  a real token or is dead (a pad, a discarded token); per slot the group keeps `alive` and the real position
  `pos` of its token.
* The attention masks are built from those: a query attends a key iff the key slot is alive, pos(key) <=
  pos(query) and, for sliding layers, pos(query) - pos(key) < sliding_window. They go to the model as a dict
  keyed by layer type, with position_ids = real positions, so RoPE, causality and the sliding window see
  exactly what a lone, unpadded sequence sees. (HF's masks measure the window in slots, so dead slots inside
  a row would count against it and push real context out.)
* Each agent step's prompt extends the last prompt + completion (+ an observation). The new prompt is
  tokenized in full, the longest common prefix with the row's cached tokens is kept, later slots die, and
  only the new tokens are computed. A new key first takes over a released row, or copies the K/V of the
  longest prefix another row holds (few-shot prompts share their examples). Prompts are computed one row at
  a time into slots after the current end (pads cost no compute), then one lm_head call gives every row's
  first token. Rows are compacted when dead slots dominate.
* Decoding runs the rows in one forward per token: the contiguous range of rows covering the running ones
  (finished rows inside it feed a dead slot; rows are reordered when the running ones get scattered), and
  the 262k-entry lm_head only on the running rows.

Attention is a small registered function (`studio_slots`): eager attention (fp32 softmax) without HF's
`repeat_kv` copy of the cache for grouped-query heads, over K/V views of a preallocated buffer (no
`torch.cat` of the whole cache per token). Float32 on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ATTN_IMPLEMENTATION = "studio_slots"


def slot_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, softcap=None, **kwargs):
    """Eager attention for grouped-query heads without materialising repeated K/V.

    query [B, H, Q, D]; key/value [B, Hkv, S, D] (views of the slot buffer); attention_mask: additive float
    [B, 1, Q, S] from LocalBackend. Returns ([B, Q, H, D], None) like HF's eager attention.
    """
    import torch

    b, h, q_len, d = query.shape
    h_kv, s = key.shape[1], key.shape[2]
    g = h // h_kv
    if scaling is None:
        scaling = d**-0.5
    q = query.reshape(b, h_kv, g * q_len, d)
    weights = torch.matmul(q, key.transpose(2, 3)) * scaling
    if softcap is not None:
        weights = torch.tanh(weights / softcap) * softcap
    weights = weights.view(b, h_kv, g, q_len, s)
    if attention_mask is not None:
        weights = weights + attention_mask[:, :, None]
    weights = torch.softmax(weights, dim=-1, dtype=torch.float32).to(value.dtype)
    out = torch.matmul(weights.view(b, h_kv, g * q_len, s), value)
    return out.view(b, h, q_len, value.shape[-1]).transpose(1, 2).contiguous(), None


def register_attention() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_IMPLEMENTATION, slot_attention)


def make_slot_cache(capacity: int):
    """A transformers Cache whose layers write into preallocated [B, Hkv, capacity, D] buffers at the slots that
    the backend chose for this forward (`plan`), and return views of the filled part."""
    from transformers.cache_utils import Cache, DynamicLayer

    class SlotCache(Cache):
        def __init__(self, capacity: int):
            super().__init__(layer_class_to_replicate=DynamicLayer)
            self.keys: list[Any] = []
            self.values: list[Any] = []
            self.rows = 0
            self.capacity = capacity
            self.plan: tuple[slice, int, int] = (slice(None), 0, 0)  # (rows, first slot, end slot)

        def update(self, key_states, value_states, layer_idx, *args, **kwargs):
            import torch

            while len(self.keys) <= layer_idx:
                self.keys.append(None)
                self.values.append(None)
            if self.keys[layer_idx] is None:
                shape = (self.rows, key_states.shape[1], self.capacity, key_states.shape[3])
                vshape = (self.rows, value_states.shape[1], self.capacity, value_states.shape[3])
                self.keys[layer_idx] = torch.zeros(shape, dtype=key_states.dtype, device=key_states.device)
                self.values[layer_idx] = torch.zeros(vshape, dtype=value_states.dtype, device=value_states.device)
            rows, start, end = self.plan
            k, v = self.keys[layer_idx], self.values[layer_idx]
            k[rows, :, start:end] = key_states
            v[rows, :, start:end] = value_states
            return k[rows, :, :end], v[rows, :, :end]

        def get_seq_length(self, layer_idx: int = 0) -> int:
            return self.plan[2]

        def _each(self):
            for store in (self.keys, self.values):
                for i, t in enumerate(store):
                    if t is not None:
                        yield store, i, t

        def reserve(self, end: int) -> None:
            """Make room for slots up to `end` (amortised doubling)."""
            import torch

            if end <= self.capacity:
                return
            cap = max(end, self.capacity * 2)
            for store, i, t in self._each():
                grown = torch.zeros((*t.shape[:2], cap, t.shape[3]), dtype=t.dtype, device=t.device)
                grown[:, :, : self.capacity] = t
                store[i] = grown
            self.capacity = cap

        def add_rows(self, n: int) -> None:
            import torch

            for store, i, t in self._each():
                store[i] = torch.cat([t, t.new_zeros((n, *t.shape[1:]))], dim=0)
            self.rows += n

        def select_rows(self, index) -> None:
            for store, i, t in self._each():
                store[i] = t.index_select(0, index)
            self.rows = len(index)

        def gather_slots(self, index, capacity: int) -> None:
            """Row r's new slot j takes its old slot index[r, j]."""
            import torch

            n = index.shape[1]
            for store, i, t in self._each():
                idx = index[:, None, :, None].expand(t.shape[0], t.shape[1], n, t.shape[3])
                new = torch.zeros((*t.shape[:2], capacity, t.shape[3]), dtype=t.dtype, device=t.device)
                new[:, :, :n] = t.gather(2, idx)
                store[i] = new
            self.capacity = capacity

        def copy_slots(self, src: int, dst: int, index) -> None:
            """Row dst takes row src's K/V at the slots `index`."""
            for _, _, t in self._each():
                t[dst, :, index] = t[src, :, index]

    return SlotCache(capacity)


def layer_windows(config) -> dict[str, int | None]:
    """Sliding window per layer type: {"full_attention": None, "sliding_attention": 512} for Gemma 3."""
    types = set(getattr(config, "layer_types", None) or [])
    if not types:  # one kind of layer (Llama: full; Mistral v0.1: a sliding window on every layer)
        window = getattr(config, "sliding_window", None) if getattr(config, "use_sliding_window", True) else None
        return {"full_attention": window}
    unknown = types - {"full_attention", "sliding_attention"}
    if unknown:
        raise NotImplementedError(f"Layer types {sorted(unknown)} are not supported by LocalBackend")
    return {t: (config.sliding_window if t == "sliding_attention" else None) for t in types}


@dataclass(eq=False)
class Row:
    key: str | None  # None: released; its cache stays until the row is reused or dropped (a prefix donor)
    tokens: list[int] = field(default_factory=list)  # real tokens whose K/V are cached; token i has position i
    slots: list[int] = field(default_factory=list)  # the slot of each of them


class Group:
    """Up to max_batch rows sharing one KV cache of `length` slots per row.

    Invariant: alive[:, length:] is all False; slot s of row r holds a real token iff alive[r, s], at position
    pos[r, s], and then s is in rows[r].slots.
    """

    def __init__(self, device, capacity: int = 1024):
        import torch

        self.rows: list[Row] = []
        self.cache = make_slot_cache(capacity)
        self.length = 0
        self.alive = torch.zeros((0, capacity), dtype=torch.bool, device=device)
        self.pos = torch.zeros((0, capacity), dtype=torch.long, device=device)

    def live_rows(self) -> int:
        return sum(r.key is not None for r in self.rows)

    def reserve(self, end: int) -> None:
        import torch

        self.cache.reserve(end)
        cap = self.cache.capacity
        if self.alive.shape[1] < cap:
            pad = cap - self.alive.shape[1]
            self.alive = torch.cat([self.alive, self.alive.new_zeros((self.alive.shape[0], pad))], dim=1)
            self.pos = torch.cat([self.pos, self.pos.new_zeros((self.pos.shape[0], pad))], dim=1)

    def add_row(self, key: str) -> Row:
        import torch

        row = Row(key)
        self.rows.append(row)
        self.cache.add_rows(1)
        self.alive = torch.cat([self.alive, self.alive.new_zeros((1, self.alive.shape[1]))], dim=0)
        self.pos = torch.cat([self.pos, self.pos.new_zeros((1, self.pos.shape[1]))], dim=0)
        return row

    def keep_rows(self, keep: list[int]) -> None:
        """Drop every row not in `keep` (indices, in the order to keep)."""
        import torch

        if keep == list(range(len(self.rows))):
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.alive.device)
        self.cache.select_rows(index)
        self.alive = self.alive.index_select(0, index)
        self.pos = self.pos.index_select(0, index)
        self.rows = [self.rows[i] for i in keep]

    def kill_from(self, r: int, keep: int) -> None:
        """Row r keeps its first `keep` real tokens; the slots of the rest die."""
        row = self.rows[r]
        if keep < len(row.slots):
            import torch

            dead = torch.tensor(row.slots[keep:], dtype=torch.long, device=self.alive.device)
            self.alive[r, dead] = False
            del row.tokens[keep:], row.slots[keep:]

    def copy_prefix(self, src: int, dst: int, n: int) -> None:
        """Row dst becomes a copy of row src's first n real tokens (same slots, K/V copied)."""
        import torch

        self.kill_from(dst, 0)
        donor, row = self.rows[src], self.rows[dst]
        index = torch.tensor(donor.slots[:n], dtype=torch.long, device=self.alive.device)
        self.cache.copy_slots(src, dst, index)
        self.alive[dst, index] = True
        self.pos[dst, index] = self.pos[src, index]
        row.tokens, row.slots = donor.tokens[:n], donor.slots[:n]

    def compact(self) -> None:
        """Move each row's real slots to the right end of a window as long as the longest row; drop the rest."""
        import torch

        device = self.alive.device
        longest = max((len(r.slots) for r in self.rows), default=0)
        index = torch.zeros((len(self.rows), longest), dtype=torch.long, device=device)
        alive = torch.zeros((len(self.rows), longest), dtype=torch.bool, device=device)
        for i, row in enumerate(self.rows):
            n = len(row.slots)
            if n:
                index[i, longest - n :] = torch.tensor(row.slots, dtype=torch.long, device=device)
                alive[i, longest - n :] = True
            row.slots = list(range(longest - n, longest))
        capacity = max(1024, 2 * longest)
        self.cache.gather_slots(index, capacity)
        pos = self.pos.gather(1, index)
        self.alive = torch.zeros((len(self.rows), capacity), dtype=torch.bool, device=device)
        self.pos = torch.zeros((len(self.rows), capacity), dtype=torch.long, device=device)
        self.alive[:, :longest] = alive
        self.pos[:, :longest] = pos
        self.length = longest


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
