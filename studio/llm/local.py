"""A local transformers causal LM (optionally with a LoRA adapter) as a batched, KV-cached backend.

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

Why not transformers' own continuous batching (issue #24, measured 2026-12-05 on 2 CPU cores with avx2, avx512f,
avx512_bf16, amx_bf16; `benchmarks/agent_throughput.py --engines local,cb --n 16 --max-steps 4`): a thin adapter
over `model.init_continuous_batching()` (`benchmarks/cb_backend.py`) ran 3.48 episodes/min against this engine's
20.25, 0.17x (the bar was 0.8x), same steps and answers. It computed all 73,515 prompt tokens the agent loop sent,
this engine 3,756: transformers 5.17 keeps no KV cache from one agent step to the next, and turns prefix sharing
off for models with sliding-window layers (Gemma 3), so every step recomputes the few-shot examples and the
episode so far. Even on prompts with nothing to reuse it was 2.3x slower, because on a CPU its `paged|sdpa`
attends each forward's packed queries to every request's keys through one dense block-diagonal mask (58% of its
time). Its greedy output also depends on thread timing (how requests and cancellations fall into batches).
Details in `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from studio.llm.base import Completion, Request, cut_at_stop

ATTN_IMPLEMENTATION = "studio_slots"
_PREFILL_CHUNK = 1024  # longest piece of a prompt computed in one forward (bounds the attention matrix)


def _slot_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, softcap=None, **kwargs):
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


def _register_attention() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_IMPLEMENTATION, _slot_attention)


def _make_slot_cache(capacity: int):
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


@dataclass(eq=False)
class _Row:
    key: str | None  # None: released; its cache stays until the row is reused or dropped (a prefix donor)
    tokens: list[int] = field(default_factory=list)  # real tokens whose K/V are cached; token i has position i
    slots: list[int] = field(default_factory=list)  # the slot of each of them


class _Group:
    """Up to max_batch rows sharing one KV cache of `length` slots per row.

    Invariant: alive[:, length:] is all False; slot s of row r holds a real token iff alive[r, s], at position
    pos[r, s], and then s is in rows[r].slots.
    """

    def __init__(self, device, capacity: int = 1024):
        import torch

        self.rows: list[_Row] = []
        self.cache = _make_slot_cache(capacity)
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

    def add_row(self, key: str) -> _Row:
        import torch

        row = _Row(key)
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


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class LocalBackend:
    """Generation (greedy, or sampled at `temperature` with `seed`) with a local transformers causal LM, batched
    across episodes with a per-key KV cache.

    `model`: "bundled:gemma-3-270m", a Hugging Face id or a model folder. `adapter`: a PEFT LoRA adapter folder,
    merged into the weights after loading (the base model's tokenizer is used). `device`: default cuda if
    available, else cpu. `dtype`: default float32 on CPU, bfloat16 on CUDA. `max_batch`: rows per batched
    forward; more requests in flight are served in successive batches.

    Exactness: on CPU in float32, batched output equals unbatched output token for token. What differs is float
    rounding (logits of magnitude ~30 differ by up to ~4e-5 between batch shapes), far below the gaps between
    the best two logits seen in the tests (5e-3 and more).
    In bfloat16 (the CUDA default) rounding depends much more on batch shapes; pass dtype=torch.float32 where
    exact agreement matters more than speed.

    Calls are serialised by a lock. `stats` counts the work done: prompt tokens computed
    ("prefill_tokens"), prompt tokens taken from the cache ("reused_tokens"), decoding forwards ("decode_steps")
    and the rows they computed, finished ones in between included ("decode_rows").
    """

    def __init__(
        self,
        model: str = "bundled:gemma-3-270m",
        adapter: str | None = None,
        device: str | None = None,
        dtype=None,
        max_batch: int = 16,
        temperature: float = 0.0,
        seed: int = 0,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from studio.llm.bundled import resolve_model

        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.model = model
        self.adapter = adapter
        self.max_batch = max_batch
        self.temperature = temperature
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dtype is None:
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.dtype = dtype
        path = resolve_model(model)
        _register_attention()
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        net = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=ATTN_IMPLEMENTATION,
                                                   trust_remote_code=False)
        if adapter is not None:
            from peft import PeftModel

            net = PeftModel.from_pretrained(net, adapter).merge_and_unload()
        self.net = net.to(self.device).eval()
        config = self.net.config
        self.config = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
        self.windows = self._layer_windows(self.config)
        self.decoder = self.net.get_decoder()
        self.lm_head = self.net.get_output_embeddings()
        self.softcap = getattr(self.config, "final_logit_softcapping", None)
        gen_config = getattr(self.net, "generation_config", None)
        eos = gen_config.eos_token_id if gen_config is not None else None
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {int(e) for e in [*eos, self.tokenizer.eos_token_id] if e is not None}
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else next(iter(self.eos_ids), 0))
        self.stats = {"prefill_tokens": 0, "reused_tokens": 0, "decode_steps": 0, "decode_rows": 0}
        self.last_ids: dict[str, list[int]] = {}  # key -> token ids generated by the latest call (EOS included)
        self._groups: list[_Group] = []
        self._where: dict[str, tuple[_Group, _Row]] = {}
        self._lock = threading.Lock()
        self._sampler = torch.Generator(self.device).manual_seed(seed)

    @staticmethod
    def _layer_windows(config) -> dict[str, int | None]:
        """Sliding window per layer type: {"full_attention": None, "sliding_attention": 512} for Gemma 3."""
        types = set(getattr(config, "layer_types", None) or [])
        if not types:  # one kind of layer (Llama: full; Mistral v0.1: a sliding window on every layer)
            window = getattr(config, "sliding_window", None) if getattr(config, "use_sliding_window", True) else None
            return {"full_attention": window}
        unknown = types - {"full_attention", "sliding_attention"}
        if unknown:
            raise NotImplementedError(f"Layer types {sorted(unknown)} are not supported by LocalBackend")
        return {t: (config.sliding_window if t == "sliding_attention" else None) for t in types}

    # -- the Backend protocol -------------------------------------------------------------------------------

    def generate(self, requests: list[Request], stop: list[str], max_tokens: int) -> list[Completion]:
        start = time.perf_counter()
        keys = [r.key for r in requests]
        if len(set(keys)) != len(keys):
            raise ValueError("Each request of one generate call needs its own key")
        if not requests:
            return []
        results: dict[str, Completion] = {}
        with self._lock:
            ids = [list(t) for t in self.tokenizer([r.prompt for r in requests])["input_ids"]]
            if max_tokens < 1:
                return [Completion(text="", tokens_in=len(t), latency_s=time.perf_counter() - start) for t in ids]
            work: dict[int, tuple[_Group, list[tuple[str, list[int]]]]] = {}
            for req, toks in zip(requests, ids, strict=True):
                if not toks:
                    results[req.key] = Completion(text="", error="ValueError: empty prompt")
                    continue
                group = self._place(req.key, toks)
                work.setdefault(id(group), (group, []))[1].append((req.key, toks))
            for group, items in work.values():
                try:
                    results.update(self._generate_group(group, items, stop, max_tokens))
                except Exception as exc:  # a failed forward leaves the group's cache unusable: drop it
                    self._drop_group(group)
                    for key, _ in items:
                        results[key] = Completion(text="", error=f"{type(exc).__name__}: {exc}")
        latency = time.perf_counter() - start
        for c in results.values():
            c.latency_s = latency
        return [results[k] for k in keys]

    def release(self, key: str) -> None:
        """Forget `key`. Its row's cache stays as a prefix donor for the next new key (few-shot prompts share
        their examples) until that row is reused or dropped. A group left with no live rows keeps just that row
        if it is the only group, and is dropped otherwise."""
        with self._lock:
            found = self._where.pop(key, None)
            if found is None:
                return
            group, row = found
            row.key = None
            if group.live_rows() == 0:
                if len(self._groups) > 1:
                    self._groups.remove(group)
                else:
                    group.keep_rows([group.rows.index(row)])

    def clear(self) -> None:
        """Drop every cached state (live keys included)."""
        with self._lock:
            self._groups.clear()
            self._where.clear()

    def sibling(self) -> LocalBackend:
        """A backend sharing this one's model and tokenizer (no second copy of the weights), with its own empty
        cache: requests to one never reuse the other's state."""
        other = copy.copy(self)
        other.stats, other.last_ids = dict.fromkeys(self.stats, 0), {}
        other._groups, other._where, other._lock = [], {}, threading.Lock()
        return other

    def cached_tokens(self, key: str) -> int | None:
        """How many tokens of `key`'s sequence are cached (None: no state for `key`)."""
        found = self._where.get(key)
        return None if found is None else len(found[1].tokens)

    def generate_one(self, prompt: str, max_tokens: int = 256, stop: list[str] | None = None) -> Completion:
        """One prompt, its state released afterwards."""
        key = f"__one__{time.perf_counter_ns()}"
        try:
            return self.generate([Request(key, prompt)], stop or [], max_tokens)[0]
        finally:
            self.release(key)

    # -- placing keys in groups ------------------------------------------------------------------------------

    def _place(self, key: str, toks: list[int]) -> _Group:
        """The group caching `key`; a new key goes where a row shares the longest prefix with its prompt,
        taking over that row if it was released (so its cache is reused in place), else a released row or a
        new row of a group with room, else a new group."""
        if key in self._where:
            return self._where[key][0]
        best: tuple[int, _Group, _Row | None] | None = None
        for group in self._groups:
            free = [r for r in group.rows if r.key is None]
            if not free and len(group.rows) >= self.max_batch:
                continue
            share = max((_common_prefix(r.tokens, toks) for r in group.rows), default=0)
            row = max(free, key=lambda r: _common_prefix(r.tokens, toks), default=None)
            if best is None or share > best[0]:
                best = (share, group, row)
        if best is None:
            group, row = _Group(self.device), None
            self._groups.append(group)
        else:
            _, group, row = best
        if row is None:
            row = group.add_row(key)
        row.key = key
        self._where[key] = (group, row)
        return group

    def _drop_group(self, group: _Group) -> None:
        for row in group.rows:
            if row.key is not None:
                self._where.pop(row.key, None)
        if group in self._groups:
            self._groups.remove(group)

    # -- generation ------------------------------------------------------------------------------------------

    def _generate_group(self, group: _Group, items: list[tuple[str, list[int]]], stop: list[str], max_tokens: int):
        import torch

        index = {id(row): i for i, row in enumerate(group.rows)}
        active = [index[id(self._where[key][1])] for key, _ in items]
        prompts = dict(zip(active, (toks for _, toks in items), strict=True))
        # Keep each row's cached prefix of its prompt (the last token is always recomputed: its logits start
        # the completion); what diverges dies.
        for r, toks in prompts.items():
            group.kill_from(r, min(_common_prefix(group.rows[r].tokens, toks), len(toks) - 1))
        if group.length > 2 * max(len(row.slots) for row in group.rows) + 256:
            group.compact()
        with torch.no_grad():
            first = self._prefill(group, prompts)
            rows = [group.rows[r] for r in active]
            # Released rows not taken over served as donors; drop them before decoding.
            group.keep_rows([i for i, row in enumerate(group.rows) if row.key is not None])
            generated = self._decode(group, rows, [first[r] for r in active], stop, max_tokens)

        results = {}
        for (key, toks), gen in zip(items, generated, strict=True):
            self.last_ids[key] = gen
            if gen and gen[-1] in self.eos_ids:
                gen = gen[:-1]
            text, _ = cut_at_stop(self.tokenizer.decode(gen, skip_special_tokens=True), stop)
            results[key] = Completion(text=text, tokens_in=len(toks), tokens_out=self._kept(gen, text))
        return results

    def _kept(self, ids: list[int], text: str) -> int:
        """How many generated tokens it takes to produce `text` (the rest lay past the stop string)."""
        if not text:
            return 0
        for k in range(1, len(ids) + 1):
            if len(self.tokenizer.decode(ids[:k], skip_special_tokens=True)) >= len(text):
                return k
        return len(ids)

    def _masks(self, alive_k, pos_k, pos_q, alive_q, q_slots) -> dict | Any:
        """Additive masks [b, 1, Q, S] per layer type: keys alive, not after the query, inside the window.
        Dead queries (finished rows) attend to their own slot only, so that no softmax row is empty."""
        import torch

        s = alive_k.shape[1]
        causal = alive_k[:, None, :] & (pos_k[:, None, :] <= pos_q[:, :, None])
        own = torch.arange(s, device=alive_k.device)[None, None, :] == q_slots[:, :, None]
        lowest = torch.finfo(self.dtype).min
        masks = {}
        for layer_type, window in self.windows.items():
            allowed = causal if window is None else causal & (pos_q[:, :, None] - pos_k[:, None, :] < window)
            allowed = torch.where(alive_q[:, :, None], allowed, own)
            mask = torch.zeros(allowed.shape, dtype=self.dtype, device=alive_k.device)
            masks[layer_type] = mask.masked_fill_(~allowed, lowest)[:, None]
        if not getattr(self.config, "layer_types", None):
            return masks["full_attention"]  # models without per-layer-type masks take one 4D mask
        return masks

    def _hidden(self, group: _Group, rows: slice, input_ids, position_ids, start: int, end: int, masks):
        """One decoder forward writing K/V at slots [start, end) of `rows`; the last position's hidden states."""
        group.cache.plan = (rows, start, end)
        out = self.decoder(input_ids=input_ids, attention_mask=masks, position_ids=position_ids,
                           past_key_values=group.cache, use_cache=True)
        return out.last_hidden_state[:, -1]

    def _next_tokens(self, hidden) -> list[int]:
        """Next tokens from last-position hidden states [n, hidden], greedy or sampled at `temperature`: the
        lm_head runs once for all rows."""
        import torch

        logits = self.lm_head(hidden)
        if self.softcap is not None:
            logits = (logits / self.softcap).tanh() * self.softcap
        if self.temperature > 0:
            probs = torch.softmax(logits.float() / self.temperature, dim=-1)
            return [int(t) for t in torch.multinomial(probs, 1, generator=self._sampler)[:, 0].tolist()]
        return [int(t) for t in logits.argmax(-1).tolist()]

    def _prefill(self, group: _Group, prompts: dict[int, list[int]]) -> dict[int, int]:
        """Compute each row's uncached prompt tokens; returns each row's first generated token.

        Rows go one at a time (no pads to compute, and a long prompt doesn't pad the others); a row first takes
        the longest prefix any other row holds (the few-shot examples that prompts share), by copying K/V. New
        tokens go to slots after `length` that the row doesn't use; the lm_head then runs once for all rows.
        """
        import torch

        base = group.length
        end = base
        hidden = []
        for r, toks in prompts.items():
            row = group.rows[r]
            cap = len(toks) - 1
            donor, best = None, len(row.tokens)
            for d, other in enumerate(group.rows):
                if d != r and (share := min(_common_prefix(other.tokens, toks), cap)) > best:
                    donor, best = d, share
            if donor is not None:
                group.copy_prefix(donor, r, best)
            self.stats["reused_tokens"] += len(row.tokens)
            new = toks[len(row.tokens) :]
            lo = max([base, *(s + 1 for s in row.slots)])
            hi = lo + len(new)
            group.reserve(hi)
            group.alive[r, lo:hi] = True
            group.pos[r, lo:hi] = torch.arange(len(row.tokens), len(toks), device=self.device)
            row.tokens.extend(new)
            row.slots.extend(range(lo, hi))
            for a in range(0, len(new), _PREFILL_CHUNK):
                q0, q1 = lo + a, min(hi, lo + a + _PREFILL_CHUNK)
                pos_q = group.pos[r : r + 1, q0:q1]
                q_slots = torch.arange(q0, q1, device=self.device)[None]
                masks = self._masks(group.alive[r : r + 1, :q1], group.pos[r : r + 1, :q1], pos_q,
                                    torch.ones_like(q_slots, dtype=torch.bool), q_slots)
                ids = torch.tensor([new[a : a + q1 - q0]], device=self.device)
                last = self._hidden(group, slice(r, r + 1), ids, pos_q, q0, q1, masks)
            hidden.append(last)
            self.stats["prefill_tokens"] += len(new)
            end = max(end, hi)
        group.length = end
        return dict(zip(prompts, self._next_tokens(torch.cat(hidden)), strict=True))

    def _decode(self, group: _Group, rows: list[_Row], first: list[int], stop: list[str], max_tokens: int):
        """Batched greedy decoding of `rows` until each hits EOS, a stop string or max_tokens; returns the token
        ids generated for each.

        Each step runs the contiguous range of group rows that covers the running ones (rows outside it cost
        nothing; finished or idle rows inside it feed a dead slot), and the lm_head only on running rows. When
        the running rows are scattered over a range twice their number, the rows are reordered to put them first.
        """
        import torch

        generated = {id(row): [t] for row, t in zip(rows, first, strict=True)}
        running = [row for row in rows if not self._finished(generated[id(row)], stop, max_tokens)]
        while running:
            index = {id(row): i for i, row in enumerate(group.rows)}
            at = sorted(index[id(row)] for row in running)
            if at[-1] + 1 - at[0] >= max(2 * len(at), len(at) + 4):
                running_ids = {id(row) for row in running}
                order = at + [i for i, row in enumerate(group.rows) if id(row) not in running_ids]
                group.keep_rows(order)
                at = list(range(len(running)))
            running = [group.rows[i] for i in at]
            lo, hi = at[0], at[-1] + 1
            n, s = hi - lo, group.length
            group.reserve(s + 1)
            ids = torch.full((n, 1), self.pad_id, dtype=torch.long)
            pos_q = torch.zeros((n, 1), dtype=torch.long)
            alive_q = torch.zeros((n, 1), dtype=torch.bool)
            for i, row in zip(at, running, strict=True):
                token = generated[id(row)][-1]
                ids[i - lo, 0], pos_q[i - lo, 0], alive_q[i - lo, 0] = token, len(row.tokens), True
                row.tokens.append(token)
                row.slots.append(s)
            ids, pos_q, alive_q = ids.to(self.device), pos_q.to(self.device), alive_q.to(self.device)
            group.alive[lo:hi, s] = alive_q[:, 0]
            group.pos[lo:hi, s] = pos_q[:, 0]
            masks = self._masks(group.alive[lo:hi, : s + 1], group.pos[lo:hi, : s + 1], pos_q, alive_q,
                                torch.full((n, 1), s, device=self.device))
            hidden = self._hidden(group, slice(lo, hi), ids, pos_q, s, s + 1, masks)
            group.length = s + 1
            self.stats["decode_steps"] += 1
            self.stats["decode_rows"] += n
            picked = hidden[torch.tensor([i - lo for i in at], device=self.device)]
            for row, t in zip(running, self._next_tokens(picked), strict=True):
                generated[id(row)].append(t)
            running = [row for row in running if not self._finished(generated[id(row)], stop, max_tokens)]
        return [generated[id(row)] for row in rows]

    def _finished(self, gen: list[int], stop: list[str], max_tokens: int) -> bool:
        if len(gen) >= max_tokens or gen[-1] in self.eos_ids:
            return True
        if not stop:
            return False
        text = self.tokenizer.decode(gen[-64:], skip_special_tokens=True)
        return any(s in text for s in stop)
