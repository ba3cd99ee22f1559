"""What a mixing method is, and the registry that lists them.

A method is a `MixMethod` subclass declared once, in its own module of `textmix.methods`, and
registered with `@register`: its name, its family, what it needs (module paths of the
architecture, special tokens, a saliency pass), how it draws (through `Draws`) and how it applies
(`apply`, and the hooks it attaches). Everything that lists methods is derived from the registry:
`MixConfig` validation, `MixTrainingArguments` help, `textmix compare`'s methods and the method
tables of the README (a test compares them). docs/adding-a-method.md walks through adding one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:
    from ..architectures import ArchSpec, ResolvedArch
    from ..hooks import Hook, HookSet, Step

FAMILIES: dict[str, str] = {
    "activations": "text: mixes activations inside the model through forward hooks",
    "tokens": "text: edits token ids before the forward; no hook",
    "pixels": "images: mixes `pixel_values` before the forward; no model needed",
    "patches": "images: mixes a ViT's patch tokens through a forward hook",
}
"""Method families: where a method mixes."""

MODALITIES = {"activations": "text", "tokens": "text", "pixels": "image", "patches": "image"}


@dataclass
class MixContext:
    """What a method may use of the `Mixer` it belongs to, fixed when the mixer is built."""

    model: nn.Module | None
    config: Any  # MixConfig
    arch: ResolvedArch | None
    methods: dict[str, float]
    draws: Any  # textmix.draws.Draws, not imported: draws -> config -> methods would close a circle
    special_ids: torch.Tensor | None = None
    layers: dict[str, list[int]] = field(default_factory=dict)
    """Per-batch layer choices of each method that has them (hidden Mixup)."""
    task_kind: str = "single_label"
    """The labels' kind (`textmix.targets.TASK_KINDS`); "token" for token classification."""
    attention_source: str | None = None
    """With `label_weights="attention"`: how the last layer's attention is read ("recompute" or "returned",
    see `textmix.attention`), set by `check_model`."""


@dataclass
class BatchContext:
    """One training batch as a method's `apply` sees it (labels already split off)."""

    inputs: dict[str, Any]
    valid: torch.Tensor
    gen: torch.Generator
    method: str
    layer: int | None = None
    embedding_grad: torch.Tensor | None = None
    """(B, L, D) gradient of the clean loss w.r.t. the word embeddings (methods with `needs_saliency`)."""
    special_tokens_mask: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    """The batch's labels (on its device): methods that move token labels with the tokens read them."""


@dataclass
class Applied:
    """What a method's `apply` returns: new inputs, partners, label weights, and the hooks' step."""

    inputs: dict[str, Any]
    perm: torch.Tensor
    lam: torch.Tensor
    step: Step | None = None
    boxes: torch.Tensor | None = None
    name: str | None = None
    """What the batch reports as its method, if not the method's name (e.g. "mixup+cutmix")."""
    labels: torch.Tensor | None = None
    """Token classification: the labels after mixing (B, L), when tokens moved with their labels; the
    targets are then theirs (one-hot), not a blend."""
    attention: Any = None
    """With `label_weights="attention"`: the batch's `textmix.attention.AttentionLabels` (also on `step`), from
    which `MixedBatch.loss` sets `lam` and the targets after the mixed forward."""


class MixMethod:
    """One mixing method. Subclasses set the class attributes and implement `apply` (and `hooks`)."""

    name: ClassVar[str]
    family: ClassVar[str]
    """A key of `FAMILIES`."""
    summary: ClassVar[str]
    """What is mixed (one line: the README's method table and the CLI help are made of these)."""
    attention: ClassVar[str] = "unchanged"
    """What happens to the attention mask (the README's method table)."""
    arch_fields: ClassVar[tuple[str, ...]] = ()
    """`ArchSpec` fields the method needs resolved in the model (empty: no model needed)."""
    needs_special_tokens: ClassVar[bool] = False
    """Whether it must tell special tokens apart (span methods)."""
    needs_saliency: ClassVar[bool] = False
    """Whether `Mixer.clean` must run a clean forward and backward before `mix` (saliency span)."""
    token_labels: ClassVar[bool] = False
    """Whether it mixes token classification batches (labels per token), position by position."""
    attention_labels: ClassVar[bool] = False
    """Whether it pastes a region (a box, a span), so that `label_weights="attention"` can weigh a row's
    label by the attention on that region (`textmix.attention`)."""
    attention_fields: ClassVar[tuple[str, ...]] = ("layers",)
    """`ArchSpec` fields it needs besides `arch_fields` with `label_weights="attention"`."""

    @property
    def modality(self) -> str:
        """"text" or "image"."""
        return MODALITIES[self.family]

    def fields_for(self, spec: ArchSpec) -> tuple[str, ...]:
        """`ArchSpec` fields to resolve for this model (default `arch_fields`)."""
        return self.arch_fields

    def weighs_by_attention(self, config: Any) -> bool:
        """Whether this method reads its label weights from attention under `config` (a MixConfig)."""
        return self.attention_labels and getattr(config, "label_weights", "area") == "attention"

    def arch_fields_for(self, config: Any) -> tuple[str, ...]:
        """`ArchSpec` fields the method needs under `config`: `arch_fields`, plus `attention_fields` when it
        weighs labels by attention."""
        extra = self.attention_fields if self.weighs_by_attention(config) else ()
        return tuple(dict.fromkeys((*self.arch_fields, *extra)))

    def needed_fields(self, spec: ArchSpec, config: Any) -> tuple[str, ...]:
        """`fields_for(spec)` plus what `label_weights="attention"` adds under `config`."""
        extra = self.attention_fields if self.weighs_by_attention(config) else ()
        return tuple(dict.fromkeys((*self.fields_for(spec), *extra)))

    def check_model(self, ctx: MixContext) -> None:
        """Raise if the resolved model cannot run this method (called once, when the mixer is built)."""
        if self.weighs_by_attention(ctx.config):
            from ..attention import check_capturable, find_attention

            ctx.attention_source = check_capturable(ctx.model, find_attention(ctx.arch.layers[-1]),
                                                    ctx.arch.spec.pooling, self.name)

    def attention_hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        """With `label_weights="attention"`: the hook that keeps the last layer's attention during the mixed
        forward (`textmix.attention`); else none."""
        if not self.weighs_by_attention(ctx.config):
            return []
        from ..attention import capture_hook, find_attention
        from ..hooks import Hook

        module = find_attention(ctx.arch.layers[-1])
        return [Hook(module, capture_hook(self.name, hookset, ctx.attention_source), with_kwargs=True)]

    def layer_choices(self, ctx: MixContext) -> list[int] | None:
        """Layers one of which is drawn per batch (hidden Mixup), or None."""
        return None

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        """The hooks this method attaches (acting only on steps whose `owner` is this method)."""
        return []

    def apply(self, ctx: MixContext, batch: BatchContext) -> Applied:
        """Draw (through `ctx.draws`) and mix one batch, or prepare the hooks' step."""
        raise NotImplementedError


_REGISTRY: dict[str, MixMethod] = {}


def register(cls: type[MixMethod]) -> type[MixMethod]:
    """Class decorator: add a method to the registry under `cls.name`."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a mixing method needs a `name` that is a Python identifier, got {name!r}.")
    if name in ("none",):
        raise ValueError("'none' is reserved: it means no mixing.")
    if getattr(cls, "family", None) not in FAMILIES:
        raise ValueError(f"method {name!r}: family must be one of {list(FAMILIES)}, got {getattr(cls, 'family', None)!r}.")
    if name in _REGISTRY and type(_REGISTRY[name]) is not cls:
        raise ValueError(f"a mixing method named {name!r} is already registered ({type(_REGISTRY[name]).__name__}).")
    _REGISTRY[name] = cls()
    return cls


def unregister(name: str) -> None:
    """Remove a method from the registry (for tests and experiments)."""
    _REGISTRY.pop(name, None)


def get_method(name: str) -> MixMethod:
    """The registered method `name`; a `ValueError` listing the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown mixing method {name!r}; choose from {method_names()}.") from None


def method_names(family: str | None = None, modality: str | None = None) -> list[str]:
    """Names of the registered methods (optionally of one family or modality), in registration order."""
    return [n for n, m in _REGISTRY.items()
            if (family is None or m.family == family) and (modality is None or m.modality == modality)]


def registered() -> Iterator[MixMethod]:
    """The registered methods, in registration order."""
    return iter(list(_REGISTRY.values()))


def methods_table() -> str:
    """The README's method table (Markdown), made from the registry."""
    lines = ["| `method` | family | what is mixed | attention mask after mixing |", "|---|---|---|---|"]
    for m in registered():
        lines.append(f"| `{m.name}` | {m.family} | {m.summary} | {m.attention} |")
    return "\n".join(lines)


def methods_help() -> str:
    """One line naming every method by modality (for command-line help)."""
    parts = [f"{modality}: {', '.join(method_names(modality=modality))}" for modality in ("text", "image")]
    return "; ".join(p for p in parts if not p.endswith(": "))
