"""Where the mixing points live in each architecture: one table keyed by `config.model_type`.

Paths are module names relative to the top-level model (as in `model.named_modules()`). A `*`
matches any child (ALBERT's layer groups). Users of other architectures pass their own
`ArchSpec` (or a dict of its fields) as `Mixer(model, cfg, arch=...)`.

Vision transformers (ViT, DeiT) have a `patch_embeddings` entry, the module whose output holds the
patch tokens (B, gh * gw, D) in row-major grid order before [CLS] and position embeddings are
added; the patch methods mix there. Their `word_embeddings` is the same module, so the text
methods embedding / hidden / pooled work on them too.
"""

from __future__ import annotations

import fnmatch
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from torch import nn


@dataclass(frozen=True)
class ArchSpec:
    """Module paths of the mixing points of one architecture.

    `mask_layout` says how the model hands attention masks to its layers: ``"key"`` when a mask
    depends on the key position only (possibly with a sliding window), ``"pairwise"`` when it is the
    outer product of the query and key padding masks (DeBERTa). `padded_positions` marks models
    that derive position ids from padding (RoBERTa), whose mixed rows get position ids from the
    union of the two masks. `patch_embeddings` (vision models) names the module whose output is the
    patch tokens (B, gh * gw, D), row-major over the patch grid; its patch size is read from the
    module's `patch_size` attribute or the model config's. A path may be None where a model lacks
    that point; methods that need it then fail with an error naming the field.

    `pooling` says where the classifier reads a row: ``"first"`` (the head gets the pooled vector,
    or the token states of which it keeps position 0: encoders) or ``"last"`` (decoder-only models:
    the head runs on every token and the model keeps the last token that is not `pad_token_id`).
    `layer_mask_arg` is the position of the attention mask among a layer's positional arguments
    when it is not passed as `attention_mask=` (GPT-2 blocks: 2, after the cache).
    """

    word_embeddings: str | None
    embeddings: str | None
    layers: str | None
    head: str | None
    mask_layout: str = "key"
    padded_positions: bool = False
    patch_embeddings: str | None = None
    pooling: str = "first"
    layer_mask_arg: int = 1


def _vit_like(prefix: str, head: str = "classifier") -> ArchSpec:
    patches = f"{prefix}.embeddings.patch_embeddings"
    return ArchSpec(patches, f"{prefix}.embeddings", f"{prefix}.layers.*", head, patch_embeddings=patches)


def _decoder(prefix: str = "model") -> ArchSpec:
    """Llama layout: `model.embed_tokens`, `model.layers.*`, the `score` head on every token, last-token pooling."""
    return ArchSpec(f"{prefix}.embed_tokens", f"{prefix}.embed_tokens", f"{prefix}.layers.*", "score", pooling="last")


DECODERS = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo2")
"""Decoder-only families with the Llama layout (SmolLM is `llama`)."""

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
    **{model_type: _decoder() for model_type in DECODERS},
    "gpt2": ArchSpec("transformer.wte", "transformer.wte", "transformer.h.*", "score", pooling="last",
                     layer_mask_arg=2),  # wte output + position embeddings (the same for both rows) = layer 0 input
    "vit": _vit_like("vit"),
    "deit": _vit_like("deit"),  # DeiTForImageClassificationWithTeacher has no `classifier`: no pooled Mixup there
}

@dataclass
class ResolvedArch:
    """The modules of one model that an `ArchSpec` points at."""

    spec: ArchSpec
    word_embeddings: nn.Module | None
    embeddings: nn.Module | None
    layers: list[nn.Module]
    head: nn.Module | None
    num_layers: int
    patch_embeddings: nn.Module | None = None
    patch_size: tuple[int, int] | None = None


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
        # no table entry: paths not given stay None; `resolve` names any that a method needs
        return ArchSpec(**{"word_embeddings": None, "embeddings": None, "layers": None, "head": None, **arch})
    if base is None:
        raise ValueError(
            f"textmix has no module table for model_type {model_type!r} (known: {sorted(ARCHITECTURES)}). "
            "Pass the module paths yourself: Mixer(model, cfg, arch=ArchSpec(word_embeddings=..., "
            "embeddings=..., layers='encoder.layer.*', head=...)), using names from model.named_modules()."
        )
    return base


def _find(model: nn.Module, path: str | None, what: str, needed: bool = True) -> nn.Module | None:
    modules = dict(model.named_modules())
    if path is None:
        if not needed:
            return None
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        raise ValueError(
            f"no {what} module is known for model_type {model_type!r}; name it in the arch override, e.g. "
            f"Mixer(model, cfg, arch={{'{what}': '...'}}) with a path from model.named_modules()."
        )
    if path not in modules:
        if not needed:
            return None
        raise ValueError(
            f"{what} module {path!r} not found in {type(model).__name__}; fix the path in the arch override "
            "(see model.named_modules())."
        )
    return modules[path]


def _pair(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    try:
        h, w = value  # type: ignore[misc]
    except (TypeError, ValueError):
        return None
    return (int(h), int(w))


def resolve(model: nn.Module, spec: ArchSpec, needs: Collection[str] | None = None) -> ResolvedArch:
    """Look up the modules named by `spec` in `model`; raise naming the bad path if one is missing.

    `needs` lists the `ArchSpec` fields that must resolve (default: word_embeddings, embeddings,
    layers and head); the others resolve to None (layers: []) where missing.
    """
    needs = set(("word_embeddings", "embeddings", "layers", "head") if needs is None else needs)
    names = [name for name, _ in model.named_modules()]
    layer_names = [n for n in names if fnmatch.fnmatchcase(n, spec.layers)] if spec.layers else []
    # keep only the outermost matches (a pattern like 'layer.*' must not also match 'layer.0.attention')
    layer_names = [n for n in layer_names if not any(n.startswith(m + ".") for m in layer_names if m != n)]
    if not spec.layers and "layers" in needs:
        _find(model, None, "layers")
    if not layer_names and "layers" in needs:
        raise ValueError(
            f"no layer modules match {spec.layers!r} in {type(model).__name__}; fix `layers` in the arch override."
        )
    modules = dict(model.named_modules())
    config = getattr(model, "config", None)
    depth = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None) or len(layer_names)
    patches = _find(model, spec.patch_embeddings, "patch_embeddings", "patch_embeddings" in needs)
    patch_size = None
    if patches is not None:
        patch_size = _pair(getattr(patches, "patch_size", None)) or _pair(getattr(config, "patch_size", None))
        if patch_size is None and "patch_embeddings" in needs:
            raise ValueError(
                f"cannot tell the patch size of {type(model).__name__}: neither its patch embedding module "
                "nor its config has `patch_size`; set model.config.patch_size."
            )
    return ResolvedArch(
        spec=spec,
        word_embeddings=_find(model, spec.word_embeddings, "word_embeddings", "word_embeddings" in needs),
        embeddings=_find(model, spec.embeddings, "embeddings", "embeddings" in needs),
        layers=[modules[n] for n in layer_names],
        head=_find(model, spec.head, "head", "head" in needs),
        num_layers=int(depth),
        patch_embeddings=patches,
        patch_size=patch_size,
    )


def resolve_for_methods(
    model: nn.Module, arch: ArchSpec | Mapping[str, Any] | None,
    fields_of: Mapping[str, Collection[str]] | Callable[[ArchSpec], Mapping[str, Collection[str]]],
) -> ResolvedArch:
    """Resolve the modules that the methods in `fields_of` ({method: ArchSpec fields it needs}, or a
    function of the spec giving it) hook.

    Patch methods on a model without a known patch embedding get an error naming the override.
    """
    static = fields_of if isinstance(fields_of, Mapping) else None
    override = dict(arch) if isinstance(arch, Mapping) else arch
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    try:
        spec = spec_for(model, override)
    except ValueError:
        spec = None
    if static is None:
        fields_of = fields_of(spec if spec is not None else ArchSpec(None, None, None, None))
    patch = [m for m, needs in fields_of.items() if "patch_embeddings" in needs]
    if spec is None and not patch:
        spec_for(model, override)  # raises the error naming the override
    if patch and (spec is None or spec.patch_embeddings is None):
        known = sorted(k for k, v in ARCHITECTURES.items() if v.patch_embeddings)
        raise ValueError(
            f"method(s) {patch} mix the patch tokens of a vision transformer and need its patch embedding; "
            f"textmix knows it for model_type {known}, not for {model_type!r} ({type(model).__name__}). "
            "If the model has a module whose output is the patch tokens (batch, patches, hidden) in "
            "row-major grid order, name it: Mixer(model, cfg, arch={'patch_embeddings': '<path from "
            "model.named_modules()>'}). Any image model can use the pixel methods 'mixup' and 'cutmix'."
        )
    return resolve(model, spec, needs={f for needs in fields_of.values() for f in needs})


def is_decoder_only(model: nn.Module) -> bool:
    """Whether `model` is a decoder-only transformer (GPT-2, Llama, ...): its `model_type` has a causal
    LM class in transformers but neither a masked LM nor an encoder-decoder one."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type is None:
        return False
    if model_type in ARCHITECTURES:
        return ARCHITECTURES[model_type].pooling == "last"
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    return (model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
            and model_type not in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES)


def architectures_table() -> str:
    """The README's table of supported architectures (Markdown), made from `ARCHITECTURES`."""
    groups: dict[ArchSpec, list[str]] = {}
    for model_type, spec in ARCHITECTURES.items():
        groups.setdefault(spec, []).append(model_type)
    lines = ["| `model_type` | word embeddings | layers | head | pools | notes |", "|---|---|---|---|---|---|"]
    for spec, types in groups.items():
        notes = [text for flag, text in (
            (spec.mask_layout == "pairwise", "pairwise (query x key) masks"),
            (spec.padded_positions, "position ids from the padding"),
            (spec.patch_embeddings is not None, "patch tokens: `patch_mixup`, `patch_cutmix`"),
            (spec.layer_mask_arg != 1, f"mask is the layers' positional argument {spec.layer_mask_arg}"),
        ) if flag]
        pools = "last non-padding token" if spec.pooling == "last" else "first token / pooled vector"
        lines.append(f"| {', '.join(f'`{t}`' for t in types)} | `{spec.word_embeddings}` | `{spec.layers}` | "
                     f"`{spec.head}` | {pools} | {'; '.join(notes) or '–'} |")
    return "\n".join(lines)


def unwrap_adapters(model: nn.Module | None) -> nn.Module | None:
    """The transformers model inside a PEFT wrapper (`PeftModel` -> tuner -> model), else `model` itself."""
    get_base = getattr(model, "get_base_model", None)
    if callable(get_base) and hasattr(model, "peft_config"):
        return get_base()
    return model


def check_decoder(model: nn.Module | None, arch: ResolvedArch | None, activation_methods: list[str]) -> None:
    """Raise, naming the fix, when a decoder-only `model` cannot be mixed right: no `pad_token_id` (the
    model could not find each row's last token), or activation methods without last-token pooling."""
    if model is None or not is_decoder_only(model):
        return
    if getattr(model.config, "pad_token_id", None) is None:
        raise ValueError(
            f"{type(model).__name__} finds each row's last token through config.pad_token_id, which is None: "
            "set model.config.pad_token_id = tokenizer.pad_token_id (for tokenizers without one, "
            "tokenizer.pad_token = tokenizer.eos_token first)."
        )
    if activation_methods and arch is not None and arch.spec.pooling != "last":
        raise ValueError(
            f"method(s) {activation_methods} on the decoder-only {type(model).__name__} need an ArchSpec with "
            "pooling='last' (its head runs on every token and the model pools each row's last token; a mixed "
            "row must be pooled where its mixed content ends) and, if its layers take the mask positionally, "
            "layer_mask_arg. The table has the families textmix supports: "
            f"{sorted(k for k, v in ARCHITECTURES.items() if v.pooling == 'last')}."
        )


_MASK_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Layers whose positional mask argument `check_layer_mask` has checked (once per layer and position)."""


def check_layer_mask(layer: nn.Module, args: tuple, index: int, hidden: Any, own_mask: Any = None) -> None:
    """On a layer's first call: a `ValueError` naming `ArchSpec.layer_mask_arg` and the fix unless the
    layer's positional argument `index` is an attention mask for the `hidden` states (B, S, D): a bool,
    0/1 integer or additive float tensor over the S keys with 2 to 4 dims and B or 1 rows, not the hidden
    states themselves; or None where the batch has no padding (`own_mask`, the input attention mask). Under
    torch.compile, on every trace, the checks of shapes, types and identity only (they cost nothing at run time;
    reading the values or recording the layer as checked would break the graph or recompile it)."""
    import torch

    compiling = torch.compiler.is_compiling()
    if not compiling and index in _MASK_CHECKED.get(layer, ()):
        return
    mask = args[index]
    problem = None
    if mask is None:
        if own_mask is not None and not compiling and not bool(own_mask.all()):
            problem = "None, though the batch has padding"
    elif not isinstance(mask, torch.Tensor):
        problem = f"a {type(mask).__name__}, not a tensor"
    elif mask is hidden:
        problem = f"the hidden states {tuple(mask.shape)}"
    else:
        b, s = hidden.shape[0], hidden.shape[1]
        shaped = 2 <= mask.dim() <= 4 and mask.shape[0] in (1, b) and mask.shape[-1] == s
        if not shaped:
            problem = f"a tensor of shape {tuple(mask.shape)}, not a mask over the {s} keys of a batch of {b}"
        elif (not compiling and not mask.is_floating_point() and mask.dtype != torch.bool
              and bool(((mask != 0) & (mask != 1)).any())):
            problem = f"an integer tensor {tuple(mask.shape)} with values other than 0 and 1 (position ids?)"
    if problem:
        import inspect

        try:
            params = list(inspect.signature(layer.forward).parameters)
        except (TypeError, ValueError):
            params = []
        where = ", ".join(f"{i}: {p}" for i, p in enumerate(params)) or "see its forward()"
        raise ValueError(
            f"ArchSpec.layer_mask_arg={index}: positional argument {index} of {type(layer).__name__} is {problem}, "
            f"not its attention mask. Set layer_mask_arg to the position of the mask among the layer's positional "
            f"arguments (its forward takes {where}), or leave it at the default when the mask is passed as "
            "attention_mask=."
        )
    if mask is not None and not compiling:
        _MASK_CHECKED.setdefault(layer, set()).add(index)
