"""Forward hooks and their life cycle: where a method's mixing reaches into an unmodified model.

A method (see `textmix.methods`) says which modules it hooks and what each hook does; `HookSet`
attaches them, removes them (always, also on error), and holds the `Step` of the current batch:
the partners and lambdas `Mixer.mix` drew, plus whatever the method's hooks need. A hook acts
only while the model is in training mode and a step of its own method is armed; otherwise it
returns None and the forward runs untouched.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class Step:
    """What the hooks of one method need for the current batch (methods subclass it to add fields)."""

    owner: str
    """Name of the method whose hooks act on this batch."""
    perm: torch.Tensor | None = None
    """Partner of every row (B,); None for steps that mix nothing (saliency capture)."""
    lam: torch.Tensor | None = None
    """Weight of every row's own activation (B,)."""
    used: bool = False
    """Whether a training forward of the model has run on this step (a step serves exactly one)."""
    reached: bool = False
    """Whether a hook of its method met this step in a training forward (the mixing reached the model)."""
    pool: torch.Tensor | None = None
    """Decoder-only models: the position the model pools in each row (B,) (`textmix.pooling`)."""
    pool_from: torch.Tensor | None = None
    """Decoder-only models: where each row's mixed content ends (B,); moved to `pool` before the head."""
    attention: Any = None
    """With `label_weights="attention"`: the `textmix.attention.AttentionLabels` the capture hook fills."""


@dataclass
class Hook:
    """One hook to attach: a forward hook on `module`, or a forward pre-hook with `pre=True`."""

    module: nn.Module
    callback: Callable
    pre: bool = False
    with_kwargs: bool = False


_ATTACHED: weakref.WeakKeyDictionary[nn.Module, HookSet] = weakref.WeakKeyDictionary()
"""The HookSet attached to each model: one at a time."""


class HookSet:
    """The hooks of one `Mixer` on one model, and the `Step` they act on.

    A mixing step prepared by `Mixer.mix` serves exactly one training forward of the model (the
    re-run of checkpointed layers during the backward is not a forward of the model): a second one
    without a new `mix()` or `clean()` raises, since it would silently reuse the last batch's
    partners and lambdas. Only one HookSet may be attached to a model at a time.
    """

    def __init__(self, model: nn.Module | None) -> None:
        self.model = model
        self.step: Step | None = None
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    @property
    def attached(self) -> bool:
        """Whether hooks are currently attached."""
        return bool(self._handles)

    def attach(self, hooks: list[Hook]) -> None:
        """Attach `hooks` (a module hooked by several methods gets one hook per method)."""
        if not hooks or self.model is None:
            return
        other = _ATTACHED.get(self.model)
        if other is not None and other is not self:
            raise RuntimeError(
                "another Mixer is already attached to this model: two mixers would both mix one forward while "
                "the loss uses one mixer's targets. Detach it first, or use one Mixer with several methods "
                "(MixConfig(method='hidden:1,pooled:1'))."
            )
        _ATTACHED[self.model] = self
        self._handles.append(self.model.register_forward_pre_hook(self._one_forward_per_step))
        for h in hooks:
            if h.pre:
                handle = h.module.register_forward_pre_hook(h.callback, with_kwargs=h.with_kwargs)
            else:
                handle = h.module.register_forward_hook(h.callback, with_kwargs=h.with_kwargs)
            self._handles.append(handle)

    def _one_forward_per_step(self, module: nn.Module, args: tuple) -> None:
        step = self.step
        if step is None or step.perm is None or not module.training:
            return
        if step.used:
            raise RuntimeError(
                "a second training forward on the step mixer.mix() prepared: it would reuse the last batch's "
                "partners and lambdas. Call mixer.mix(batch) before every mixed forward, and mixer.clean(batch) "
                "before a clean one (e.g. for a consistency loss)."
            )
        step.used = True

    def detach(self) -> None:
        """Remove every hook and forget the current step."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.step = None
        if self.model is not None and _ATTACHED.get(self.model) is self:
            del _ATTACHED[self.model]

    def active(self, owner: str, batch_size: int | None = None) -> Any:
        """The current step if `owner`'s hooks should act on a forward of `batch_size` rows, else None.

        Raises when a step is armed for a batch of another size: the forward is not the batch that
        `mix()` prepared (`batch_size=None` skips that check).
        """
        step = self.step
        if step is None or step.owner != owner or self.model is None or not self.model.training:
            return None
        if batch_size is not None and step.perm is not None and batch_size != step.perm.shape[0]:
            raise RuntimeError(
                f"the mixer prepared a batch of {step.perm.shape[0]} rows but the model got {batch_size}; "
                "call mixer.mix(batch) for every batch and feed mb.inputs to the model."
            )
        step.reached = True
        return step


def first_tensor(output: Any) -> torch.Tensor:
    """The hidden states in a module's output: the output itself, or the first element of a tuple."""
    return output if isinstance(output, torch.Tensor) else output[0]


def blend_rows(x: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``lam * x + (1 - lam) * x[perm]`` row by row, for x of any shape (B, ...).

    One gather and one `lerp` (two kernels forward and back); exact where lam = 1 (the row itself)
    and lam = 0 (the partner).
    """
    lam = lam.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return torch.lerp(x.index_select(0, perm), x, lam)


def replace_first(output: Any, value: torch.Tensor) -> Any:
    """`output` with its hidden states replaced by `value` (tensor or tuple, as it came)."""
    if isinstance(output, torch.Tensor):
        return value
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return (value, *output[1:])
    raise TypeError(f"cannot mix a module output of type {type(output).__name__}.")


def blend_output(output: Any, step: Step) -> Any:
    """A module's output with its hidden states blended with the partners' (see `blend_rows`)."""
    return replace_first(output, blend_rows(first_tensor(output), step.perm, step.lam))


@dataclass
class SaliencyCapture(Step):
    """Armed by `Mixer.clean` for a method with `needs_saliency`: its hook stores the gradient of the
    clean loss with respect to the word embeddings (B, L, D) here."""

    grad: torch.Tensor | None = None
