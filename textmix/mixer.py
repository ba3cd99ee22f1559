"""`Mixer`: mixes training batches of an unmodified Hugging Face model through forward hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import image as image_ops
from . import span as span_ops
from .architectures import ARCHITECTURES, FIELDS_OF_METHOD, ArchSpec, ResolvedArch, resolve, spec_for
from .config import IMAGE_METHODS, PATCH_METHODS, PIXEL_METHODS, MixConfig
from .masks import union_attention_mask, union_layer_mask
from .sampling import draw_lambdas, draw_partners
from .targets import base_targets, mix_targets, soft_loss, task_kind_of, valid_rows

LABEL_KEYS = ("labels", "label", "label_ids")
HOOK_METHODS = ("embedding", "hidden", "pooled")
SPAN_METHODS = ("span", "saliency_span")
_NOT_MODEL_INPUTS = ("special_tokens_mask",)
PROBLEM_TYPES = {
    "single_label_classification": "single_label",
    "multi_label_classification": "multi_label",
    "regression": "regression",
}


@dataclass
class MixedBatch:
    """One batch after mixing.

    `inputs` are plain model inputs (never labels); `perm[i]` is row i's partner; `lam[i]` the
    weight of row i's own label (1.0 = unmixed); `targets` the mixed targets `loss` trains on;
    `valid` marks rows that count in the loss (not labelled -100). Image methods also give `boxes`
    (B, 4) long, ``[y0, y1, x0, x1)`` of the region row i took from its partner, in pixels (cutmix)
    or patches (patch_cutmix); empty for rows that were blended (Mixup) or not mixed. `method` is
    the method drawn for the batch, or e.g. ``"mixup+cutmix"`` when rows drew theirs one by one.
    """

    inputs: dict[str, Any]
    perm: torch.Tensor
    lam: torch.Tensor
    targets: torch.Tensor
    valid: torch.Tensor
    task_kind: str
    method: str | None = None
    layer: int | None = None
    boxes: torch.Tensor | None = None

    @property
    def mixed(self) -> bool:
        """Whether this batch was mixed at all."""
        return self.method is not None

    def loss(self, logits: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Soft-target loss of `logits` against `targets` over the valid rows (`"mean"` or `"sum"`)."""
        return soft_loss(logits, self.targets, self.valid, self.task_kind, reduction)


@dataclass
class _Plan:
    mixed: bool
    method: str | None
    layer: int | None


@dataclass
class _Step:
    """What the hooks need for the current batch."""

    method: str
    perm: torch.Tensor
    lam: torch.Tensor
    mixed_rows: torch.Tensor
    layer: int | None = None
    own_mask: torch.Tensor | None = None
    layer_calls: int = 0
    masks: dict = field(default_factory=dict)
    family: str | None = None
    token_weight: torch.Tensor | None = None
    grid: tuple[int, int] | None = None


class Mixer:
    """Mixes training batches of `model` as `config` says.

    Use it as a context manager: hooks are attached on entry and always removed on exit. Inside,
    `mix(batch)` draws partners and lambdas for one batch and returns a `MixedBatch`; feed
    `mb.inputs` to the model and train on `mb.loss(logits)`. Nothing is mixed while the model is in
    eval mode. `arch` overrides the module table (see `textmix.architectures`); span methods need
    the special token ids, taken from `tokenizer`, `special_token_ids`, a `special_tokens_mask` in the
    batch, or the model config.

    The pixel methods (mixup, cutmix) need no model: `Mixer(None, cfg, num_labels=10).mix(batch)`
    works on a dict with `pixel_values` and labels (one-hot labels give the number of classes
    too), e.g. in a collate function. `num_labels` and `problem_type` (as in a Hugging Face config,
    e.g. "multi_label_classification") override what the model config says.
    """

    def __init__(
        self,
        model: nn.Module | None,
        config: MixConfig | None = None,
        *,
        arch: ArchSpec | Mapping[str, Any] | None = None,
        tokenizer: Any = None,
        special_token_ids: list[int] | None = None,
        num_labels: int | None = None,
        problem_type: str | None = None,
        seed_offset: int = 0,
    ) -> None:
        self.model = model
        self.config = config if config is not None else MixConfig()
        self.methods = self.config.method_weights
        self.seed_offset = int(seed_offset)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._step: _Step | None = None
        self._plan: _Plan | None = None
        self._saliency_capture: dict[str, Any] | None = None
        self._cpu_gen = torch.Generator().manual_seed(self.config.seed + self.seed_offset)
        self._device_gens: dict[str, torch.Generator] = {}
        self._pending_device_states: dict[str, torch.Tensor] = {}
        model_config = getattr(model, "config", None)
        self.num_labels = int(num_labels if num_labels is not None else getattr(model_config, "num_labels", 0))
        self.task_kind = task_kind_of(model_config) if model_config is not None else "single_label"
        if problem_type is not None:
            if problem_type not in PROBLEM_TYPES:
                raise ValueError(f"problem_type must be one of {list(PROBLEM_TYPES)} (got {problem_type!r}).")
            self.task_kind = PROBLEM_TYPES[problem_type]
        needs_model = [m for m in self.methods if m in FIELDS_OF_METHOD]
        self.arch: ResolvedArch | None = None
        self.layers: list[int] = list(self.config.layers or [])
        if model is None:
            if needs_model:
                raise ValueError(
                    f"method(s) {needs_model} mix inside a model: pass the model to Mixer(model, cfg). "
                    "Without a model only the pixel methods 'mixup' and 'cutmix' (and 'span') work."
                )
        elif needs_model:
            self.arch = self._resolve_arch(model, arch, needs_model)
            if "hidden" in self.methods:
                depth = self.arch.num_layers
                self.layers = self.config.layers or list(range((depth + 1) // 2, depth + 1))
                too_deep = [k for k in self.layers if k > depth]
                if too_deep:
                    raise ValueError(
                        f"layers {too_deep} are out of range: this model has {self.arch.num_layers} layers, "
                        f"so hidden Mixup layers must be within 0..{self.arch.num_layers} "
                        f"(0 = embedding output); e.g. layers=({self.arch.num_layers},)."
                    )
        self._special_ids = self._special_token_ids(tokenizer, special_token_ids, model_config)

    @staticmethod
    def _resolve_arch(model: nn.Module, arch: Any, methods: list[str]) -> ResolvedArch:
        override = dict(arch) if isinstance(arch, Mapping) else arch
        patch = [m for m in methods if m in PATCH_METHODS]
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        try:
            spec = spec_for(model, override)
        except ValueError:
            if not patch:
                raise
            spec = None
        if patch and (spec is None or spec.patch_embeddings is None):
            known = sorted(k for k, v in ARCHITECTURES.items() if v.patch_embeddings)
            raise ValueError(
                f"method(s) {patch} mix the patch tokens of a vision transformer and need its patch embedding; "
                f"textmix knows it for model_type {known}, not for {model_type!r} ({type(model).__name__}). "
                "If the model has a module whose output is the patch tokens (batch, patches, hidden) in "
                "row-major grid order, name it: Mixer(model, cfg, arch={'patch_embeddings': '<path from "
                "model.named_modules()>'}). Any image model can use the pixel methods 'mixup' and 'cutmix'."
            )
        return resolve(model, spec, needs={f for m in methods for f in FIELDS_OF_METHOD[m]})

    @property
    def knows_special_tokens(self) -> bool:
        """Whether span methods can tell special tokens apart without a `special_tokens_mask` in the batch."""
        return self._special_ids is not None

    # ------------------------------------------------------------------ hooks
    def __enter__(self) -> Mixer:
        self.attach()
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    @property
    def attached(self) -> bool:
        """Whether hooks are currently attached to the model."""
        return bool(self._handles)

    def attach(self) -> None:
        """Attach the forward hooks this configuration needs (idempotent)."""
        if self._handles or self.arch is None:
            return
        arch = self.arch
        h = self._handles
        if arch.word_embeddings is not None:
            h.append(arch.word_embeddings.register_forward_hook(self._word_embedding_hook))
        if any(m in PATCH_METHODS for m in self.methods):
            h.append(arch.patch_embeddings.register_forward_hook(self._patch_embedding_hook))
        if "embedding" in self.methods or "hidden" in self.methods:
            h.append(arch.embeddings.register_forward_hook(self._embedding_module_hook))
        if "hidden" in self.methods:
            base = getattr(self.model, "base_model", self.model)
            h.append(base.register_forward_pre_hook(self._base_model_pre_hook, with_kwargs=True))
            index_of = {id(m): i for i, m in enumerate(arch.layers)}
            static = len(arch.layers) == arch.num_layers
            for module in dict.fromkeys(arch.layers):  # each distinct module once
                i = index_of[id(module)] if static else None
                h.append(module.register_forward_pre_hook(self._make_layer_pre_hook(i), with_kwargs=True))
                h.append(module.register_forward_hook(self._make_layer_hook(i)))
        if "pooled" in self.methods:
            h.append(arch.head.register_forward_pre_hook(self._head_pre_hook))

    def detach(self) -> None:
        """Remove every hook this mixer attached and forget the current batch."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._step = None
        self._saliency_capture = None

    def _active(self, method: str, batch_size: int) -> _Step | None:
        step = self._step
        if step is None or method not in (step.method, step.family) or self.model is None or not self.model.training:
            return None
        if batch_size != step.perm.shape[0]:
            raise RuntimeError(
                f"the mixer prepared a batch of {step.perm.shape[0]} rows but the model got {batch_size}; "
                "call mixer.mix(batch) for every batch and feed mb.inputs to the model."
            )
        return step

    @staticmethod
    def _mix_tensor(x: torch.Tensor, step: _Step) -> torch.Tensor:
        lam = step.lam.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return lam * x + (1 - lam) * x[step.perm]

    def _mix_output(self, output: Any, step: _Step) -> Any:
        if isinstance(output, torch.Tensor):
            return self._mix_tensor(output, step)
        if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
            return (self._mix_tensor(output[0], step), *output[1:])
        raise TypeError(f"cannot mix a module output of type {type(output).__name__}.")

    def _word_embedding_hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> Any:
        capture = self._saliency_capture
        if capture is not None and self.model is not None and self.model.training:
            if output.requires_grad:
                output.register_hook(lambda grad: capture.__setitem__("grad", grad.detach()))
            else:  # frozen embeddings: give the clean pass a leaf to take the gradient of
                output = output.detach().requires_grad_(True)
                output.register_hook(lambda grad: capture.__setitem__("grad", grad.detach()))
                return output
            return None
        step = self._active("embedding", output.shape[0])
        if step is not None and self.config.embedding_target == "word":
            return self._mix_output(output, step)
        return None

    def _embedding_module_hook(self, module: nn.Module, args: tuple, output: Any) -> Any:
        out0 = output if isinstance(output, torch.Tensor) else output[0]
        step = self._active("embedding", out0.shape[0])
        if step is not None and self.config.embedding_target == "module":
            return self._mix_output(output, step)
        step = self._active("hidden", out0.shape[0])
        if step is not None and step.layer == 0:
            return self._mix_output(output, step)
        return None

    def _base_model_pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> Any:
        b = self._step.perm.shape[0] if self._step is not None else 0
        step = self._active("hidden", b)
        if step is None:
            return None
        step.layer_calls = 0
        if step.own_mask is None:
            return None
        if "attention_mask" in kwargs:
            kwargs["attention_mask"] = step.own_mask
            return args, kwargs
        if len(args) > 1:
            return (args[0], step.own_mask, *args[2:]), kwargs
        raise RuntimeError(
            f"{type(module).__name__} was called without an attention mask argument textmix can find."
        )

    def _make_layer_pre_hook(self, static_index: int | None) -> Callable:
        def pre_hook(module: nn.Module, args: tuple, kwargs: dict) -> Any:
            hidden = args[0] if args else kwargs.get("hidden_states")
            step = self._active("hidden", hidden.shape[0])
            if step is None:
                return None
            index = static_index if static_index is not None else step.layer_calls
            if index < step.layer:  # layers up to the mixing point keep each row's own mask
                return None
            if "attention_mask" in kwargs:
                kwargs["attention_mask"] = self._union_mask(kwargs["attention_mask"], step)
                return args, kwargs
            if len(args) > 1:
                return (args[0], self._union_mask(args[1], step), *args[2:]), kwargs
            return None

        return pre_hook

    def _make_layer_hook(self, static_index: int | None) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs_or_output: Any) -> Any:
            output = kwargs_or_output
            out0 = output if isinstance(output, torch.Tensor) else output[0]
            step = self._active("hidden", out0.shape[0])
            if step is None:
                return None
            index = static_index if static_index is not None else step.layer_calls
            step.layer_calls += 1
            if index + 1 == step.layer:
                return self._mix_output(output, step)
            return None

        return hook

    def _union_mask(self, mask: Any, step: _Step) -> Any:
        key = id(mask)
        if key not in step.masks:  # computed once per distinct mask and batch
            step.masks[key] = (mask, union_layer_mask(mask, step.perm, step.mixed_rows, self.arch.spec.mask_layout))
        return step.masks[key][1]

    def _patch_embedding_hook(self, module: nn.Module, args: tuple, output: Any) -> Any:
        out0 = output if isinstance(output, torch.Tensor) else output[0]
        step = self._active("patch", out0.shape[0])
        if step is None:
            return None
        gh, gw = step.grid
        if out0.dim() != 3 or out0.shape[1] != gh * gw:
            raise RuntimeError(
                f"the patch embedding {type(module).__name__} returned shape {tuple(out0.shape)}, but the images "
                f"make a {gh} x {gw} grid of patches of size {self.arch.patch_size}: patch methods need its output "
                "to be the patch tokens (batch, patches, hidden) in row-major grid order. Point "
                "arch={'patch_embeddings': ...} at such a module."
            )
        mixed = image_ops.mix_tokens(out0, step.perm, step.token_weight)
        return mixed if isinstance(output, torch.Tensor) else (mixed, *output[1:])

    def _head_pre_hook(self, module: nn.Module, args: tuple) -> Any:
        step = self._active("pooled", args[0].shape[0])
        if step is None:
            return None
        return (self._mix_tensor(args[0], step), *args[1:])

    # ------------------------------------------------------------------ randomness
    def _device_gen(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._device_gens:
            gen = torch.Generator(device=device).manual_seed(self.config.seed + self.seed_offset + 1)
            if key in self._pending_device_states:
                gen.set_state(self._pending_device_states.pop(key))
            self._device_gens[key] = gen
        return self._device_gens[key]

    def _cpu_choice(self, options: list, weights: list[float]) -> Any:
        idx = torch.multinomial(torch.tensor(weights, dtype=torch.float64), 1, generator=self._cpu_gen)
        return options[int(idx)]

    def _draw_plan(self) -> _Plan:
        u = float(torch.rand((), generator=self._cpu_gen, dtype=torch.float64))
        method = self._cpu_choice(list(self.methods), list(self.methods.values()))
        layer = None
        if method == "hidden":
            layer = int(self._cpu_choice(list(self.layers), [1.0] * len(self.layers)))
        mixed = (u < self.config.prob) if not self.config.prob_per_row else self.config.prob > 0
        return _Plan(mixed=mixed, method=method if mixed else None, layer=layer if mixed else None)

    @property
    def next_method(self) -> str | None:
        """Method the next training `mix()` call will use (None: that batch stays unmixed)."""
        if self._plan is None:
            self._plan = self._draw_plan()
        return self._plan.method

    @property
    def next_needs_saliency(self) -> bool:
        """True when the next batch uses saliency_span: run `clean(batch)` forward and backward first."""
        return self.next_method == "saliency_span"

    def state_dict(self) -> dict[str, Any]:
        """Generator states and the pending draw, for checkpoints."""
        gens = {k: g.get_state() for k, g in self._device_gens.items()}
        gens.update({k: v for k, v in self._pending_device_states.items() if k not in gens})
        plan = None if self._plan is None else [self._plan.mixed, self._plan.method, self._plan.layer]
        return {"cpu": self._cpu_gen.get_state(), "devices": gens, "plan": plan, "seed_offset": self.seed_offset}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` saved, so a resumed run draws what the original would have."""
        self._cpu_gen.set_state(state["cpu"])
        self._device_gens.clear()
        self._pending_device_states = dict(state["devices"])
        plan = state.get("plan")
        self._plan = None if plan is None else _Plan(bool(plan[0]), plan[1], plan[2])

    # ------------------------------------------------------------------ batches
    def _split(self, batch: Mapping[str, Any]) -> tuple[dict[str, Any], torch.Tensor]:
        if not isinstance(batch, Mapping):
            raise TypeError(f"mix() takes a dict of tensors, got {type(batch).__name__}.")
        label_key = next((k for k in LABEL_KEYS if k in batch), None)
        if label_key is None:
            raise ValueError(
                f"the batch has no labels (looked for {list(LABEL_KEYS)}); mixing needs labels to mix targets. "
                "With the Trainer, keep the label column (or set label_names)."
            )
        inputs = {k: v for k, v in batch.items() if k not in LABEL_KEYS and k not in _NOT_MODEL_INPUTS}
        labels = batch[label_key]
        if not isinstance(labels, torch.Tensor):
            labels = torch.as_tensor(labels)
        return inputs, labels

    def _batch_device(self, inputs: Mapping[str, Any], labels: torch.Tensor) -> torch.device:
        for key in ("input_ids", "inputs_embeds", "pixel_values", "attention_mask"):
            value = inputs.get(key)
            if isinstance(value, torch.Tensor):
                return value.device
        return labels.device

    def _base_targets(self, labels: torch.Tensor) -> torch.Tensor:
        num_labels = self.num_labels
        if self.task_kind == "single_label" and labels.dim() == 2:
            labels = labels if labels.is_floating_point() else labels.float()  # one-hot integers
            num_labels = num_labels or labels.shape[1]
        elif self.task_kind == "single_label" and num_labels <= 0:
            raise ValueError(
                "the mixer does not know the number of classes: pass Mixer(None, cfg, num_labels=N), or give "
                "one-hot labels of shape (batch, N)."
            )
        return base_targets(labels, self.task_kind, num_labels, self.config.label_smoothing)

    def _unmixed(self, inputs: dict, labels: torch.Tensor) -> MixedBatch:
        b = labels.shape[0]
        device = labels.device
        valid = valid_rows(labels, self.task_kind)
        targets = self._base_targets(labels)
        return MixedBatch(
            inputs=inputs,
            perm=torch.arange(b, device=device),
            lam=torch.ones(b, device=device),
            targets=targets,
            valid=valid,
            task_kind=self.task_kind,
        )

    def clean(self, batch: Mapping[str, Any]) -> MixedBatch:
        """The batch unmixed (targets smoothed as configured), arming saliency capture when the
        next batch uses saliency_span: run the model on `inputs` and backpropagate its loss before `mix()`."""
        inputs, labels = self._split(batch)
        self._step = None
        if self.next_needs_saliency and self.model is not None and self.model.training:
            if not self.attached:
                raise RuntimeError("saliency_span needs the mixer's hooks: use `with mixer:` around training.")
            self._saliency_capture = {}
        return self._unmixed(inputs, labels)

    def mix(self, batch: Mapping[str, Any]) -> MixedBatch:
        """Mix one training batch: draw partners and lambdas, prepare the hooks, return a `MixedBatch`.

        In eval mode the batch comes back unmixed and no random number is drawn.
        """
        inputs, labels = self._split(batch)
        self._step = None
        if self.model is not None and not self.model.training:
            self._saliency_capture = None
            return self._unmixed(inputs, labels)
        plan = self._plan if self._plan is not None else self._draw_plan()
        self._plan = None
        capture, self._saliency_capture = self._saliency_capture, None
        b = labels.shape[0]
        if not plan.mixed or b < 2:
            return self._unmixed(inputs, labels)
        method = plan.method
        if (method in HOOK_METHODS or method in PATCH_METHODS) and not self.attached:
            raise RuntimeError(f"method {method!r} mixes through hooks: call mix() inside `with mixer:`.")
        device = self._batch_device(inputs, labels)
        gen = self._device_gen(device)
        labels = labels.to(device)
        valid = valid_rows(labels, self.task_kind)
        targets = self._base_targets(labels)
        boxes, layer = None, plan.layer
        if method in IMAGE_METHODS:
            inputs, perm, lam, boxes, method = self._mix_images(method, inputs, valid, gen)
        else:
            inputs, perm, lam = self._mix_text(method, inputs, valid, gen, plan, capture, batch)
        return MixedBatch(
            inputs=inputs,
            perm=perm,
            lam=lam,
            targets=mix_targets(targets, perm, lam),
            valid=valid,
            task_kind=self.task_kind,
            method=method,
            layer=layer,
            boxes=boxes,
        )

    def _mix_text(
        self, method: str, inputs: dict, valid: torch.Tensor, gen: torch.Generator, plan: _Plan,
        capture: dict | None, batch: Mapping[str, Any],
    ) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """Draw partners and lambdas for a text method; cut spans now or prepare the hooks."""
        perm, lam = self._draw_rows(valid, gen)
        if method in SPAN_METHODS:
            inputs, lam = self._mix_spans(inputs, perm, lam, gen, method, capture, batch.get("special_tokens_mask"))
        else:
            mixed_rows = lam < 1
            own_mask = inputs.get("attention_mask")
            if method in ("embedding", "hidden") and own_mask is not None:
                union = union_attention_mask(own_mask, perm, mixed_rows)
                inputs = dict(inputs, attention_mask=union)
                padded = self.arch.spec.padded_positions
                if method == "embedding" and padded and "position_ids" not in inputs and "input_ids" in inputs:
                    pad = getattr(self.model.config, "pad_token_id", 1)
                    inputs["position_ids"] = (torch.cumsum(union, dim=1) * union + pad).long()
            if method == "hidden" and _checkpointing(self.model):
                if len(set(map(id, self.arch.layers))) != self.arch.num_layers:
                    raise RuntimeError(
                        "hidden Mixup on a model with shared layers (ALBERT) cannot run with gradient "
                        "checkpointing; disable one of the two."
                    )
            self._step = _Step(
                method=method, perm=perm, lam=lam, mixed_rows=mixed_rows, layer=plan.layer, own_mask=own_mask
            )
        return inputs, perm, lam

    def _partners(self, valid: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Partners, and the row whose draws each row uses: 0 (batch), itself (row), the pair's first (pair)."""
        b = valid.shape[0]
        index = torch.arange(b, device=valid.device)
        mode = self.config.lam_mode
        if mode == "pair":
            perm = image_ops.pair_partners(valid, self.config.partner, gen)
            return perm, torch.minimum(index, perm)
        perm = draw_partners(valid, self.config.partner, gen)
        return perm, (torch.zeros_like(index) if mode == "batch" else index)

    def _row_gate(self, n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor | None:
        """With `prob_per_row`: which of the n draws are mixed at all (each with probability `prob`)."""
        if not self.config.prob_per_row:
            return None
        return torch.rand(n, generator=gen, device=device) < self.config.prob

    def _draw_rows(self, valid: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Partners and lambdas (B,) of the text methods; rows paired with themselves get lam = 1."""
        cfg = self.config
        b, device = valid.shape[0], valid.device
        index = torch.arange(b, device=device)
        perm, source = self._partners(valid, gen)
        lam = draw_lambdas(cfg.alpha, b, cfg.lam_mode != "batch", cfg.lam_at_least_half, gen, device)
        if cfg.lam_mode == "pair":
            lam = lam[source]
        gate = self._row_gate(b, gen, device)
        keep = valid & (perm != index)
        if gate is not None:
            keep &= gate[source]
        return perm, torch.where(keep, lam, torch.ones_like(lam))

    def _mix_images(
        self, method: str, inputs: dict, valid: torch.Tensor, gen: torch.Generator
    ) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor, str]:
        """Draw and apply an image method: pixels are mixed here, patch tokens by the hook."""
        cfg = self.config
        x = inputs.get("pixel_values")
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            got = "no `pixel_values`" if x is None else f"pixel_values of shape {tuple(getattr(x, 'shape', ()))}"
            raise ValueError(
                f"method {method!r} mixes images and needs `pixel_values` of shape (batch, channels, height, "
                f"width) in the batch; got {got}. Text batches use the text methods (embedding, hidden, ...)."
            )
        b, device = valid.shape[0], valid.device
        if x.shape[0] != b:
            raise ValueError(f"the batch has {x.shape[0]} images but {b} labels.")
        patch = method in PATCH_METHODS
        family = PATCH_METHODS if patch else PIXEL_METHODS
        blend_name, cut_name = family
        height, width = x.shape[-2:]
        if patch:
            ph, pw = self.arch.patch_size
            size = (height // ph, width // pw)
            if size[0] < 1 or size[1] < 1:
                raise ValueError(f"images of {height} x {width} pixels are smaller than one {ph} x {pw} patch.")
        else:
            size = (height, width)
        index = torch.arange(b, device=device)
        perm, source = self._partners(valid, gen)
        n = 1 if cfg.lam_mode == "batch" else b
        weights = {m: w for m, w in self.methods.items() if m in family}
        if n > 1 and len(weights) == 2:  # each row (pair) draws mixup or cutmix itself, as timm's elem/pair modes
            cut = torch.rand(n, generator=gen, device=device) < weights[cut_name] / sum(weights.values())
            name = "+".join(weights)
            may_blend = may_cut = True
        else:
            cut = torch.full((n,), method == cut_name, device=device)
            name = method
            may_blend, may_cut = method == blend_name, method == cut_name
        ones = torch.ones(n, device=device)
        lam_blend = draw_lambdas(cfg.alpha, n, n > 1, cfg.lam_at_least_half, gen, device) if may_blend else ones
        lam_cut, boxes = ones, torch.zeros((n, 4), dtype=torch.long, device=device)
        if may_cut:
            if cfg.cutmix_minmax is None:
                alpha = cfg.cutmix_alpha if cfg.cutmix_alpha is not None else cfg.alpha
                lam_cut = draw_lambdas(alpha, n, n > 1, cfg.lam_at_least_half, gen, device)
            boxes = image_ops.sample_boxes(lam_cut, size, gen, cfg.cutmix_minmax)
        gate = self._row_gate(n, gen, device)
        mixed = valid & (perm != index)
        if gate is not None:
            mixed &= gate[source]
        cut, lam_blend, lam_cut, boxes = cut[source], lam_blend[source], lam_cut[source], boxes[source]
        boxes = torch.where((mixed & cut)[:, None], boxes, torch.zeros_like(boxes))
        exact = patch or cfg.correct_lam or cfg.cutmix_minmax is not None
        label_cut = image_ops.kept_fraction(boxes, size) if exact else lam_cut
        one = torch.ones((), device=device)
        lam = torch.where(mixed, torch.where(cut, label_cut, lam_blend), one)
        blend_weight = torch.where(mixed & ~cut, lam_blend, one)
        if patch:
            self._step = _Step(
                method=name, perm=perm, lam=lam, mixed_rows=mixed & (lam < 1), family="patch", grid=size,
                token_weight=image_ops.token_weights(boxes, size, blend_weight),
            )
        else:
            mixed_x = image_ops.mix_images(x, perm, blend_weight, boxes, inplace=cfg.inplace, blend=may_blend)
            inputs = dict(inputs, pixel_values=mixed_x)
        return inputs, perm, lam, boxes, name

    def _mix_spans(
        self,
        inputs: dict,
        perm: torch.Tensor,
        lam: torch.Tensor,
        gen: torch.Generator,
        method: str,
        capture: dict | None,
        special_tokens_mask: torch.Tensor | None = None,
    ) -> tuple[dict, torch.Tensor]:
        ids = inputs.get("input_ids")
        if ids is None:
            raise ValueError(
                f"method {method!r} cuts token spans and needs `input_ids` in the batch; "
                "with `inputs_embeds` use method='embedding' or 'hidden'."
            )
        special = self._special_ids
        if special_tokens_mask is not None:
            content = ~torch.as_tensor(special_tokens_mask, device=ids.device).bool()
            if inputs.get("attention_mask") is not None:
                content &= inputs["attention_mask"].bool()
        elif special is None:
            raise ValueError(
                "span methods must know the special tokens ([CLS], [SEP], padding): pass "
                "Mixer(..., tokenizer=tok) or special_token_ids=[...], or put `special_tokens_mask` in the batch."
            )
        else:
            content = span_ops.content_mask(ids, inputs.get("attention_mask"), special.to(ids.device))
        seg = span_ops.find_segments(content)
        lengths = span_ops.span_lengths(seg, perm, lam)
        if method == "saliency_span":
            grad = None if capture is None else capture.get("grad")
            if grad is None:
                raise RuntimeError(
                    "saliency_span needs the clean pass first: mb0 = mixer.clean(batch); "
                    "mb0.loss(model(**mb0.inputs).logits).backward(); then mixer.mix(batch)."
                )
            if grad.shape[:2] != ids.shape:
                raise RuntimeError("the clean pass ran on a different batch than mix(); pass the same batch.")
            saliency = grad.float().norm(dim=-1)
            start_own, start_partner = span_ops.salient_starts(saliency, seg, perm, lengths)
        else:
            start_own, start_partner = span_ops.random_starts(seg, perm, lengths, gen)
        new_ids, _ = span_ops.paste_spans(ids, seg, perm, lengths, start_own, start_partner)
        return dict(inputs, input_ids=new_ids), span_ops.kept_share(seg, lengths)

    def _special_token_ids(self, tokenizer: Any, given: list[int] | None, model_config: Any) -> torch.Tensor | None:
        if given is not None:
            return torch.tensor(sorted(set(int(i) for i in given)), dtype=torch.long)
        if tokenizer is not None:
            return torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        if model_config is None:
            return None
        ids = {getattr(model_config, n, None) for n in ("cls_token_id", "sep_token_id", "bos_token_id", "eos_token_id")}
        ids.discard(None)
        if not ids:  # only a pad id is known (BERT configs): [CLS]/[SEP] would pass as content
            return None
        pad = getattr(model_config, "pad_token_id", None)
        if pad is not None:
            ids.add(pad)
        return torch.tensor(sorted(int(i) for i in ids), dtype=torch.long)


def _checkpointing(model: nn.Module) -> bool:
    flag = getattr(type(model), "is_activation_checkpointing", None)
    if flag is not None:
        return bool(model.is_activation_checkpointing)
    return bool(getattr(model, "is_gradient_checkpointing", False))
