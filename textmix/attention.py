"""Label weights from attention (TransMix, Chen et al., CVPR 2022, and its text twin for span CutMix).

With `MixConfig(label_weights="attention")` a row's label weight is read from the mixed forward
itself: the last layer's attention of the pooled query (ViT/BERT: the class token at position 0;
decoder-only models: the last token, the one they pool) over the key positions that count (image:
the patches; text: the content tokens), averaged over heads. As in TransMix's reference code
(`transmix.py`, `ratio=0.5`), the weight of the partner's label is the mean of the pasted area share
and the attention share on the pasted region, so a row keeps

    lam = (kept area share + (1 - attention on pasted / attention on all patches)) / 2

No extra forward and no host read: a forward hook on the last layer's attention module keeps the
(B, K) attention row; `MixedBatch.loss` turns it into `lam` and the targets. Where the probabilities
come from (`attention_source`):

* ``"recompute"``: encoders and ViTs whose attention module has query/key projections (`query`/`key`
  or `q_proj`/`k_proj`) and no rotary embedding: the query row's softmax(q k^T / sqrt(d) + mask) is
  recomputed from the module's input in the hook (one key projection of the last layer, no
  gradient), with the mask the module gets (additive float, boolean, or a 0/1 padding mask). Works
  with eager and SDPA attention (both tested against eager's `output_attentions`), also through LoRA
  adapters on the projections (PEFT: their update included, their dropout not), and gives the
  probabilities before attention dropout, as the reference does.
* ``"returned"``: other models (decoder-only models with rotary embeddings): the attention weights the
  module returns, which only eager attention computes (load the model with
  `attn_implementation="eager"`; with attention dropout, the weights after dropout).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

QK_NAMES = (("query", "key"), ("q_proj", "k_proj"), ("q_lin", "k_lin"))
"""Attribute names of the query and key projections of an attention module."""


@dataclass
class AttentionLabels:
    """What one mixed batch needs to weigh its labels by attention, and the attention once captured.

    `region` (B, K): 1 where a key position holds the partner's pasted content; `support` (B, K): the
    positions that count (patches; content tokens); `area` (B,): the row's own label weight by area
    (what `lam` is without attention); `query` (B,): the query position read in each row. The K key
    positions are the last K of the layer's keys (patches come after [CLS] and distillation tokens).
    """

    region: torch.Tensor
    support: torch.Tensor
    area: torch.Tensor
    query: torch.Tensor
    attn: torch.Tensor | None = None
    """(B, keys) the query row's attention, mean over heads; set by the hook during the mixed forward."""

    def lam(self) -> torch.Tensor:
        """Each row's own label weight: the mean of its kept area share and its kept attention share."""
        if self.attn is None:
            raise RuntimeError(
                "label_weights='attention' reads the label weights from the mixed forward: run the model on "
                "mb.inputs (in train mode, inside `with mixer:`) before mb.loss()."
            )
        attn = self.attn[:, -self.region.shape[1]:].float()
        pasted = (attn * self.region).sum(-1) / (attn * self.support).sum(-1).clamp_min(torch.finfo(attn.dtype).tiny)
        return ((self.area.float() + (1.0 - pasted)) / 2).to(self.area.dtype)


def _is_linear(module: Any) -> bool:
    """Whether `module` is a linear projection: an `nn.Linear`, or an adapter wrapping one (PEFT's LoRA
    `Linear`, whose `get_base_layer()` is the `nn.Linear` and whose call adds the adapter's update)."""
    base = module.get_base_layer() if hasattr(module, "get_base_layer") else module
    return isinstance(base, nn.Linear)


def find_attention(layer: nn.Module) -> nn.Module | None:
    """The self-attention module of a transformer layer: its first submodule with query and key projections
    (`nn.Linear`, possibly wrapped by a LoRA adapter), else the first whose class name ends in 'Attention'."""
    for module in layer.modules():
        if any(_is_linear(getattr(module, q, None)) and _is_linear(getattr(module, k, None)) for q, k in QK_NAMES):
            return module
    return next((m for m in layer.modules() if type(m).__name__.endswith("Attention")), None)


def attention_source(module: nn.Module | None, pooling: str) -> str | None:
    """How the attention of `module` is read: "recompute" (from its query/key projections), "returned" (the
    weights it returns, eager attention only), or None when it cannot be."""
    if module is None:
        return None
    has_qk = any(_is_linear(getattr(module, q, None)) for q, _ in QK_NAMES)
    if has_qk and pooling == "first":  # encoders and ViTs: no rotary embedding between projection and scores
        return "recompute"
    return "returned"


def attention_implementation(model: nn.Module | None) -> str:
    """The model's attention implementation (config._attn_implementation), "eager" if unset."""
    config = getattr(model, "config", None)
    return str(getattr(config, "_attn_implementation", None) or "eager")


def check_capturable(model: nn.Module | None, module: nn.Module | None, pooling: str, method: str) -> str:
    """The attention source of `module`, or a `ValueError` naming the fix."""
    source = attention_source(module, pooling)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if source is None:
        raise ValueError(
            f"method {method!r} with label_weights='attention' reads the last layer's attention, but no attention "
            f"module was found in the last layer of {type(model).__name__} ({model_type}); use label_weights='area', "
            "or point arch={'layers': ...} at the model's transformer layers."
        )
    impl = attention_implementation(model)
    if source == "returned" and impl != "eager":
        raise ValueError(
            f"method {method!r} with label_weights='attention' needs the last layer's attention probabilities, "
            f"which {impl!r} attention of {model_type!r} does not return: load the model with "
            "attn_implementation='eager' (from_pretrained(..., attn_implementation='eager'), or "
            "model.set_attn_implementation('eager')), or use label_weights='area'."
        )
    return source


def _heads(module: nn.Module) -> int:
    for name in ("num_attention_heads", "num_heads"):
        value = getattr(module, name, None)
        if isinstance(value, int):
            return value
    return int(module.config.num_attention_heads)


@contextlib.contextmanager
def _no_dropout(*modules: nn.Module) -> Iterator[None]:
    """`modules` (and their children: a LoRA adapter's dropout) in eval mode inside, their modes restored
    after: the recomputation neither drops out nor draws from the global random generator."""
    modes = [(m, m.training) for module in modules for m in module.modules()]
    try:
        for m, _ in modes:
            m.training = False
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def recompute_row(module: nn.Module, hidden: torch.Tensor, mask: Any, query: torch.Tensor) -> torch.Tensor:
    """(B, L) softmax attention of each row's `query` position over all keys, mean over heads, from the
    module's query/key projections (as eager attention computes it, before dropout; LoRA-wrapped
    projections with their adapters' update, without the adapters' dropout)."""
    q_name, k_name = next((q, k) for q, k in QK_NAMES if _is_linear(getattr(module, q, None)))
    b, length = hidden.shape[:2]
    rows = torch.arange(b, device=hidden.device)
    heads = _heads(module)
    with _no_dropout(getattr(module, q_name), getattr(module, k_name)):
        q = getattr(module, q_name)(hidden[rows, query])  # (B, H * d): the query row only
        k = getattr(module, k_name)(hidden)  # (B, L, Hk * d)
    d = q.shape[-1] // heads
    kv_heads = k.shape[-1] // d
    q = q.view(b, heads, d)
    k = k.view(b, length, kv_heads, d).repeat_interleave(heads // kv_heads, dim=2)
    scaling = getattr(module, "scaling", None) or d ** -0.5
    scores = torch.einsum("bhd,blhd->bhl", q.float(), k.float()) * scaling
    if isinstance(mask, torch.Tensor):
        m = mask if mask.is_floating_point() else mask.bool()  # float: additive; bool / 0-1 integers: keep
        if m.dim() == 2:  # (B, L) padding mask
            m = m[:, None, None, :]
        m = m.expand(b, m.shape[1], m.shape[2], length)
        m = m[rows, :, query if m.shape[2] > 1 else torch.zeros_like(query)]  # (B, Hm, L)
        scores = scores.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else scores + m.float()
    return F.softmax(scores, dim=-1).mean(1)


def returned_row(output: Any, query: torch.Tensor) -> torch.Tensor | None:
    """(B, L) the query row of the attention weights an attention module returned (B, H, L, L), mean over
    heads; None when it returned none (not eager attention)."""
    weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
    if not isinstance(weights, torch.Tensor) or weights.dim() != 4:
        return None
    rows = torch.arange(weights.shape[0], device=weights.device)
    return weights[rows, :, query].float().mean(1)


def capture_hook(owner: str, hookset: Any, source: str):
    """A forward hook (with kwargs) for the last layer's attention module: stores the query rows' attention
    in the step's `AttentionLabels` while `owner`'s step is armed."""

    def capture(module, args, kwargs, output):
        step = hookset.active(owner)
        labels = getattr(step, "attention", None)
        if not isinstance(labels, AttentionLabels):
            return None
        with torch.no_grad():
            if source == "recompute":
                hidden = args[0] if args else kwargs["hidden_states"]
                mask = args[1] if len(args) > 1 else kwargs.get("attention_mask")
                labels.attn = recompute_row(module, hidden.detach(), mask, labels.query)
            else:
                row = returned_row(output, labels.query)
                if row is None:
                    raise RuntimeError(
                        f"{type(module).__name__} returned no attention weights: label_weights='attention' needs "
                        "attn_implementation='eager' for this model."
                    )
                labels.attn = row.detach()
        return None

    return capture
