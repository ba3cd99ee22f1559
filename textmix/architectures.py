"""Where the mixing points live in each architecture: one table keyed by `config.model_type`.

Paths are module names relative to the top-level model (as in `model.named_modules()`). A `*`
matches any child (ALBERT's layer groups). Users of other architectures pass their own
`ArchSpec` (or a dict of its fields) as `Mixer(model, cfg, arch=...)`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, fields, replace

from torch import nn


@dataclass(frozen=True)
class ArchSpec:
    """Module paths of the mixing points of one architecture.

    `mask_layout` says how the model hands attention masks to its layers: ``"key"`` when a mask
    depends on the key position only (possibly with a sliding window), ``"pairwise"`` when it is the
    outer product of the query and key padding masks (DeBERTa). `padded_positions` marks models
    that derive position ids from padding (RoBERTa), whose mixed rows get position ids from the
    union of the two masks.
    """

    word_embeddings: str
    embeddings: str
    layers: str
    head: str
    mask_layout: str = "key"
    padded_positions: bool = False


ARCHITECTURES: dict[str, ArchSpec] = {
    "bert": ArchSpec("bert.embeddings.word_embeddings", "bert.embeddings", "bert.encoder.layer.*", "classifier"),
    "roberta": ArchSpec(
        "roberta.embeddings.word_embeddings", "roberta.embeddings", "roberta.encoder.layer.*", "classifier",
        padded_positions=True,
    ),
    "xlm-roberta": ArchSpec(
        "roberta.embeddings.word_embeddings", "roberta.embeddings", "roberta.encoder.layer.*", "classifier",
        padded_positions=True,
    ),
    "distilbert": ArchSpec(
        "distilbert.embeddings.word_embeddings", "distilbert.embeddings", "distilbert.transformer.layer.*",
        "pre_classifier",
    ),
    "albert": ArchSpec(
        "albert.embeddings.word_embeddings", "albert.embeddings", "albert.encoder.albert_layer_groups.*",
        "classifier",
    ),
    "electra": ArchSpec(
        "electra.embeddings.word_embeddings", "electra.embeddings", "electra.encoder.layer.*", "classifier"
    ),
    "deberta-v2": ArchSpec(
        "deberta.embeddings.word_embeddings", "deberta.embeddings", "deberta.encoder.layer.*", "classifier",
        mask_layout="pairwise",
    ),
    "modernbert": ArchSpec(
        "model.embeddings.tok_embeddings", "model.embeddings", "model.layers.*", "head"
    ),
}


@dataclass
class ResolvedArch:
    """The modules of one model that an `ArchSpec` points at."""

    spec: ArchSpec
    word_embeddings: nn.Module
    embeddings: nn.Module
    layers: list[nn.Module]
    head: nn.Module
    num_layers: int


def spec_for(model: nn.Module, arch: ArchSpec | dict | None = None) -> ArchSpec:
    """The `ArchSpec` of `model`: the user's override (full, or fields over the table's entry), else the table's."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    base = ARCHITECTURES.get(model_type) if model_type else None
    if isinstance(arch, ArchSpec):
        return arch
    if isinstance(arch, dict):
        known = {f.name for f in fields(ArchSpec)}
        unknown = set(arch) - known
        if unknown:
            raise ValueError(f"unknown ArchSpec fields {sorted(unknown)}; known: {sorted(known)}.")
        if base is not None:
            return replace(base, **arch)
        try:
            return ArchSpec(**arch)
        except TypeError as err:
            raise ValueError(f"an arch override for model_type {model_type!r} needs all module paths: {err}") from None
    if base is None:
        raise ValueError(
            f"textmix has no module table for model_type {model_type!r} (known: {sorted(ARCHITECTURES)}). "
            "Pass the module paths yourself: Mixer(model, cfg, arch=ArchSpec(word_embeddings=..., "
            "embeddings=..., layers='encoder.layer.*', head=...)), using names from model.named_modules()."
        )
    return base


def _find(model: nn.Module, path: str, what: str) -> nn.Module:
    modules = dict(model.named_modules())
    if path not in modules:
        raise ValueError(
            f"{what} module {path!r} not found in {type(model).__name__}; fix the path in the arch override "
            "(see model.named_modules())."
        )
    return modules[path]


def resolve(model: nn.Module, spec: ArchSpec) -> ResolvedArch:
    """Look up the modules named by `spec` in `model`; raise naming the bad path if one is missing."""
    names = [name for name, _ in model.named_modules()]
    layer_names = [n for n in names if fnmatch.fnmatchcase(n, spec.layers)]
    # keep only the outermost matches (a pattern like 'layer.*' must not also match 'layer.0.attention')
    layer_names = [n for n in layer_names if not any(n.startswith(m + ".") for m in layer_names if m != n)]
    if not layer_names:
        raise ValueError(
            f"no layer modules match {spec.layers!r} in {type(model).__name__}; fix `layers` in the arch override."
        )
    modules = dict(model.named_modules())
    config = getattr(model, "config", None)
    depth = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None) or len(layer_names)
    return ResolvedArch(
        spec=spec,
        word_embeddings=_find(model, spec.word_embeddings, "word_embeddings"),
        embeddings=_find(model, spec.embeddings, "embeddings"),
        layers=[modules[n] for n in layer_names],
        head=_find(model, spec.head, "head"),
        num_layers=int(depth),
    )
