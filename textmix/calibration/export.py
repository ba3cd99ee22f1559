"""A calibrated model to ship: the temperature folded into the classification head.

Temperature scaling divides the logits by ``T``. When the logits are the output of a final linear layer
``z = W h + b``, dividing ``W`` and ``b`` by ``T`` gives ``z / T`` with no extra module, so the saved model
(``save_pretrained``) gives temperature-scaled probabilities to any user, ``transformers.pipeline``
included, without textmix. Pooling after the head (decoder-only classifiers run the head on every
token and keep the last one) commutes with the scaling.

The final linear layer is found by ``HEAD_PATHS``, one declaration of where it sits per head layout;
a model whose head is not a final linear layer (a DeiT with a distillation head, a head with an
activation after its last linear layer, ...) is refused with an error naming its class. LoRA and other
PEFT adapters are merged into a copy of the model first (``merge_and_unload``).

``transformers.pipeline("image-classification")`` converts every image to RGB before its image processor
sees it, so a model of grey (1-channel) images cannot take its input: ``save_calibrated`` writes such a
model with an RGB input (``rgb_input``: its first convolution's weight spread over three channels), which
gives a grey image's logits exactly, and an RGB image processor beside it.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["CONFIG_KEY", "HEAD_PATHS", "HeadError", "calibrated_model", "final_linear", "fold_temperature", "rgb_input",
           "save_calibrated"]

HEAD_PATHS: tuple[str, ...] = (
    "classifier.out_proj",  # RoBERTa, XLM-R, ELECTRA sequence classifiers: dense -> activation -> out_proj
    "classifier",  # BERT, DistilBERT, ALBERT, DeBERTa-v2, ModernBERT, ViT, DeiT; every token classifier
    "score",  # decoder-only classifiers (Llama layout, GPT-2): no bias
)
"""Module paths of the layer that outputs the logits, tried in order; the first that is an `nn.Linear` with
`config.num_labels` outputs is the head."""
CONFIG_KEY = "textmix_calibration"
"""The entry of config.json that records the folded temperature (`temperature`, `head`, `fitted_on`)."""


class HeadError(ValueError):
    """The model's logits do not come out of a final linear layer this module can fold a temperature into."""


def _unwrap(model: Any) -> Any:
    """The transformers model inside a PEFT wrapper with its adapters merged (on the object given), or the model."""
    if hasattr(model, "merge_and_unload") and hasattr(model, "peft_config"):
        return model.merge_and_unload()
    return model


def final_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """(path, module) of the linear layer whose output is the model's logits (see `HEAD_PATHS`)."""
    modules = dict(model.named_modules())
    num_labels = getattr(getattr(model, "config", None), "num_labels", None)
    for path in HEAD_PATHS:
        module = modules.get(path)
        if isinstance(module, nn.Linear) and (num_labels is None or module.out_features == num_labels):
            return path, module
    found = ", ".join(f"{p} ({type(modules[p]).__name__})" for p in HEAD_PATHS if p in modules) or "none of them"
    raise HeadError(
        f"{type(model).__name__}: its logits do not come out of a final linear layer with {num_labels} outputs at "
        f"{list(HEAD_PATHS)} (found: {found}), so the temperature cannot be folded into it. Apply "
        "textmix.calibration.apply_temperature to its logits instead.")


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not math.isfinite(t) or t <= 0.0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


@torch.no_grad()
def fold_temperature(model: nn.Module, temperature: float, *, fitted_on: str = "validation") -> nn.Module:
    """Divide the final linear layer's weight and bias by `temperature`, in place, and record it in
    `model.config` (`CONFIG_KEY`); returns `model`. Its logits become the old ones divided by `temperature`.
    Raises `HeadError` (naming the model class) when the logits do not come out of a final linear layer."""
    t = _check_temperature(temperature)
    if hasattr(model, "peft_config"):
        raise HeadError(f"{type(model).__name__} wraps adapters: merge them first (calibrated_model does).")
    path, head = final_linear(model)
    head.weight.div_(t)
    if head.bias is not None:
        head.bias.div_(t)
    config = getattr(model, "config", None)
    if config is not None:
        earlier = getattr(config, CONFIG_KEY, None) or {}
        total = t * float(earlier.get("temperature", 1.0))  # folding twice multiplies the temperatures
        setattr(config, CONFIG_KEY, {"temperature": total, "head": path, "fitted_on": fitted_on,
                                     "note": "the head's weight and bias are divided by the temperature: its "
                                             "logits are already temperature-scaled"})
    return model


def _logits(model: nn.Module, inputs: Mapping[str, Any]) -> torch.Tensor:
    out = model(**{k: v for k, v in inputs.items() if k not in ("labels", "label")})
    return (out.logits if hasattr(out, "logits") else out[0]).double()


@torch.no_grad()
def calibrated_model(model: Any, temperature: float, *, fitted_on: str = "validation",
                     check_inputs: Mapping[str, Any] | None = None) -> nn.Module:
    """A copy of `model` (LoRA / PEFT adapters merged) with `temperature` folded into its head; `model` is
    untouched. With `check_inputs` (a batch of model inputs), the copy's logits are checked to be the
    model's divided by `temperature` on it (a head with something after its last linear layer fails:
    `HeadError` naming the model class)."""
    t = _check_temperature(temperature)
    twin = _unwrap(copy.deepcopy(model)).eval()
    before = None if check_inputs is None else _logits(twin, check_inputs)
    fold_temperature(twin, t, fitted_on=fitted_on)
    if before is not None:
        after = _logits(twin, check_inputs)
        eps = torch.finfo(final_linear(twin)[1].weight.dtype).eps  # bf16 / fp16 heads round W / T coarsely
        tol = max(1e-4, 32 * eps)
        if not torch.allclose(after, before / t, rtol=tol, atol=tol * float(before.abs().mean() / t + 1e-3)):
            raise HeadError(f"{type(twin).__name__}: after dividing its head by the temperature its logits are not "
                            f"the old ones divided by it (largest gap {float((after - before / t).abs().max()):.3g}): "
                            "something follows the last linear layer. Apply textmix.calibration.apply_temperature "
                            "to its logits instead.")
    return twin


@torch.no_grad()
def rgb_input(model: nn.Module, processor: Any = None,
              check_inputs: Mapping[str, Any] | None = None) -> tuple[nn.Module, Any]:
    """`model` (of grey, 1-channel `pixel_values`; changed in place) made to take RGB ones, and a copy of its image
    `processor` that gives RGB: the first convolution's weight repeated over three input channels and divided
    by 3, so an image with R = G = B gives the grey image's logits (a colour image: those of its channel mean).
    With `check_inputs`, the logits on them (grey) and on them repeated to RGB are checked to be equal."""
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs or convs[0][1].in_channels != 1:
        raise HeadError(f"{type(model).__name__}: its first convolution does not take 1-channel images.")
    name, conv = convs[0]
    before = None if check_inputs is None else _logits(model, check_inputs)
    wide = nn.Conv2d(3, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups,
                     conv.bias is not None, conv.padding_mode, device=conv.weight.device, dtype=conv.weight.dtype)
    wide.weight.copy_(conv.weight.repeat(1, 3, 1, 1) / 3)
    if conv.bias is not None:
        wide.bias.copy_(conv.bias)
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, wide)
    for module in model.modules():  # e.g. ViTPatchEmbeddings checks the channels it is given
        if getattr(module, "num_channels", None) == 1:
            module.num_channels = 3
    model.config.num_channels = 3
    if before is not None:
        rgb = {k: v.expand(-1, 3, -1, -1) if k == "pixel_values" else v for k, v in check_inputs.items()}
        after = _logits(model, rgb)
        if not torch.allclose(after, before, rtol=1e-4, atol=1e-4 * float(before.abs().mean() + 1e-3)):
            raise HeadError(f"{type(model).__name__}: with RGB input its logits are not those of the grey images "
                            f"(largest gap {float((after - before).abs().max()):.3g}).")
    if processor is not None:
        processor = copy.deepcopy(processor)
        processor.image_mean = list(processor.image_mean) * 3 if len(processor.image_mean) == 1 else processor.image_mean
        processor.image_std = list(processor.image_std) * 3 if len(processor.image_std) == 1 else processor.image_std
        processor.do_convert_rgb = True
    return model, processor


def save_calibrated(model: Any, temperature: float, path: str | os.PathLike, processing_class: Any = None,
                    *, fitted_on: str = "validation", check_inputs: Mapping[str, Any] | None = None) -> Path:
    """Write `calibrated_model(model, temperature)` with `save_pretrained` (and `processing_class`, the
    tokenizer or image processor, beside it) to `path`; returns the folder. Loaded with the plain
    `AutoModelFor...` class or a `transformers.pipeline`, it gives temperature-scaled probabilities.
    A model of grey images (`config.num_channels` 1) is written with an RGB input (`rgb_input`), as the
    image-classification pipeline gives RGB images."""
    folded = calibrated_model(model, temperature, fitted_on=fitted_on, check_inputs=check_inputs)
    if getattr(folded.config, "num_channels", None) == 1 and hasattr(processing_class, "image_mean"):
        folded, processing_class = rgb_input(folded, processing_class, check_inputs)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    folded.save_pretrained(out)
    if processing_class is not None:
        processing_class.save_pretrained(out)
    return out
