"""`Mixer`: mixes training batches of an unmodified Hugging Face model through forward hooks.

A thin facade over four parts, each in its own module: the methods (`textmix.methods`, one
registry), the draws (`textmix.draws`, with their order contract and checkpoint state), the hooks
(`textmix.hooks`, attachment and life cycle) and the batches (`textmix.batch`, labels and targets).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .architectures import ArchSpec, ResolvedArch, check_decoder, resolve_for_methods, unwrap_adapters
from .batch import (
    PROBLEM_TYPES,
    MixedBatch,
    batch_device,
    check_token_labels,
    check_unpacked,
    mixed_targets,
    split_batch,
    targets_of,
    unmixed_batch,
)
from .config import MixConfig
from .draws import Draws
from .hooks import Hook, HookSet, SaliencyCapture
from .methods import BatchContext, MixContext, MixMethod, get_method
from .targets import task_kind_of, valid_rows

__all__ = ["MixedBatch", "Mixer"]


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
    e.g. "multi_label_classification") override what the model config says; `label_key` names the
    batch's label entry when it is not one of "labels", "label", "label_ids". A PEFT-wrapped model
    (`peft.get_peft_model`) is mixed through its wrapper: the mixing points are found in the
    transformers model inside.
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
        label_key: str | None = None,
    ) -> None:
        self.model = model
        self.label_key = label_key
        self._depth = 0
        self._warned_eval = False
        self.config = config if config is not None else MixConfig()
        self.methods = self.config.method_weights
        self.seed_offset = int(seed_offset)
        self._method: dict[str, MixMethod] = {name: get_method(name) for name in self.methods}
        model_config = getattr(model, "config", None)
        self.num_labels = int(num_labels if num_labels is not None else getattr(model_config, "num_labels", 0))
        self.task_kind = task_kind_of(model_config, unwrap_adapters(model)) if model_config is not None else "single_label"
        if problem_type is not None:
            if problem_type not in PROBLEM_TYPES:
                raise ValueError(f"problem_type must be one of {list(PROBLEM_TYPES)} (got {problem_type!r}).")
            self.task_kind = PROBLEM_TYPES[problem_type]
        fields_of = {name: m.arch_fields_for(self.config) for name, m in self._method.items()
                     if m.arch_fields_for(self.config)}
        if model is None and fields_of:
            raise ValueError(
                f"method(s) {list(fields_of)} mix inside a model: pass the model to Mixer(model, cfg). "
                "Without a model only the pixel methods 'mixup' and 'cutmix' (and 'span') work, with "
                "label_weights='area'."
            )
        inner = unwrap_adapters(model)  # the transformers model inside a PEFT wrapper; hooks go on its modules
        self.arch: ResolvedArch | None = None
        if fields_of:
            self.arch = resolve_for_methods(
                inner, arch, lambda spec: {n: m.needed_fields(spec, self.config) for n, m in self._method.items()
                                           if m.arch_fields_for(self.config)})
        if self.task_kind == "token":
            unfit = [n for n, m in self._method.items() if not m.token_labels]
            if unfit:
                raise ValueError(
                    f"method(s) {unfit} do not mix token classification batches (labels per token); "
                    "use method='embedding' or 'hidden'."
                )
        else:
            check_decoder(inner, self.arch, [n for n, m in self._method.items() if m.family == "activations"])
        _check_virtual_tokens(model, [n for n, m in self._method.items() if m.weighs_by_attention(self.config)])
        self.draws = Draws(self.config, self.seed_offset)
        self.hookset = HookSet(model)
        self.ctx = MixContext(model=inner, config=self.config, arch=self.arch, methods=self.methods, draws=self.draws,
                              task_kind=self.task_kind,
                              special_ids=_special_token_ids(tokenizer, special_token_ids, model_config))
        for name, method in self._method.items():
            if method.arch_fields_for(self.config):
                method.check_model(self.ctx)
                choices = method.layer_choices(self.ctx)
                if choices is not None:
                    self.ctx.layers[name] = choices
        self._hooks: dict[str, list[Hook]] = {
            name: (m.hooks(self.ctx, self.hookset) if self.arch is not None else []) for name, m in self._method.items()
        }

    @property
    def layers(self) -> list[int]:
        """Hidden Mixup's layer choices (empty when hidden Mixup is not configured)."""
        return list(self.ctx.layers.get("hidden", self.config.layers or []))

    @property
    def knows_special_tokens(self) -> bool:
        """Whether span methods can tell special tokens apart without a `special_tokens_mask` in the batch."""
        return self.ctx.special_ids is not None

    # ------------------------------------------------------------------ hooks
    def __enter__(self) -> Mixer:
        self._depth += 1
        self.attach()
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth <= 0:  # nested `with mixer:` blocks detach on the outermost exit
            self._depth = 0
            self.detach()

    @property
    def attached(self) -> bool:
        """Whether hooks are currently attached to the model."""
        return self.hookset.attached

    def attach(self) -> None:
        """Attach the forward hooks this configuration needs (idempotent)."""
        if not self.hookset.attached:
            self.hookset.attach([h for hooks in self._hooks.values() for h in hooks])

    def detach(self) -> None:
        """Remove every hook this mixer attached and forget the current batch."""
        self.hookset.detach()

    # ------------------------------------------------------------------ randomness
    @property
    def next_method(self) -> str | None:
        """Method the next training `mix()` call will use (None: that batch stays unmixed)."""
        return self.draws.peek(self.methods, self.ctx.layers).method

    @property
    def next_needs_saliency(self) -> bool:
        """True when the next batch needs a clean pass first (saliency_span): run `clean(batch)` forward and
        backward before `mix()`."""
        name = self.next_method
        return name is not None and self._method[name].needs_saliency

    def state_dict(self) -> dict[str, Any]:
        """Generator states and the pending draw, for checkpoints."""
        return self.draws.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` saved, so a resumed run draws what the original would have."""
        self.draws.load_state_dict(state)

    # ------------------------------------------------------------------ batches
    def _unmixed(self, inputs: dict, labels: torch.Tensor) -> MixedBatch:
        return unmixed_batch(inputs, labels, self.task_kind, self.num_labels, self.config.label_smoothing)

    def clean(self, batch: Mapping[str, Any]) -> MixedBatch:
        """The batch unmixed (targets smoothed as configured), arming saliency capture when the
        next batch uses saliency_span: run the model on `inputs` and backpropagate its loss before `mix()`."""
        inputs, labels, _ = split_batch(batch, self.label_key)
        self.hookset.step = None
        if self.model is None or self.model.training:
            check_unpacked(inputs)
        if self.next_needs_saliency and self.model is not None and self.model.training:
            if not self.attached:
                raise RuntimeError("saliency_span needs the mixer's hooks: use `with mixer:` around training.")
            self.hookset.step = SaliencyCapture(self.next_method)
        return self._unmixed(inputs, labels)

    def mix(self, batch: Mapping[str, Any]) -> MixedBatch:
        """Mix one training batch: draw partners and lambdas, prepare the hooks, return a `MixedBatch`.

        In eval mode the batch comes back unmixed and no random number is drawn; the first such call
        warns (models come out of `from_pretrained` in eval mode: call `model.train()` to mix).
        """
        inputs, labels, special_tokens_mask = split_batch(batch, self.label_key)
        capture, self.hookset.step = self.hookset.step, None
        if self.model is not None and not self.model.training:
            self._warn_eval_mode()
            return self._unmixed(inputs, labels)
        check_unpacked(inputs)
        plan = self.draws.take(self.methods, self.ctx.layers)
        if not plan.mixed or labels.shape[0] < 2:
            return self._unmixed(inputs, labels)
        method = self._method[plan.method]
        if self._hooks[plan.method] and not method.needs_saliency and not self.attached:
            raise RuntimeError(f"method {plan.method!r} mixes through hooks: call mix() inside `with mixer:`.")
        device = batch_device(inputs, labels)
        labels = labels.to(device)
        valid = valid_rows(labels, self.task_kind)
        check_token_labels(inputs, labels, self.task_kind)
        targets = targets_of(labels, self.task_kind, self.num_labels, self.config.label_smoothing)
        grad = capture.grad if isinstance(capture, SaliencyCapture) and capture.owner == plan.method else None
        applied = method.apply(self.ctx, BatchContext(
            inputs=inputs, valid=valid, gen=self.draws.device(device), method=plan.method, layer=plan.layer,
            embedding_grad=grad, special_tokens_mask=special_tokens_mask, labels=labels,
        ))
        self.hookset.step = applied.step
        base = targets
        targets, valid = mixed_targets(targets, labels, applied.perm, applied.lam, applied.labels, self.task_kind,
                                       self.num_labels, self.config.label_smoothing)
        return MixedBatch(inputs=applied.inputs, perm=applied.perm, lam=applied.lam, targets=targets, valid=valid,
                          task_kind=self.task_kind, method=applied.name or plan.method, layer=plan.layer,
                          boxes=applied.boxes, step=applied.step if self._hooks[plan.method] else None,
                          attention=applied.attention,
                          base_targets=base if applied.attention is not None else None)

    def _warn_eval_mode(self) -> None:
        if not self._warned_eval:  # once per mixer: evaluation loops call mix() on purpose
            self._warned_eval = True
            warnings.warn(
                "Mixer.mix() got a model in eval mode and returns the batch unmixed; call model.train() before "
                "training (from_pretrained returns models in eval mode). This warning is shown once per mixer.",
                UserWarning, stacklevel=3,
            )


def _check_virtual_tokens(model: nn.Module | None, attention_methods: list[str]) -> None:
    """Refuse label weights from attention on a PEFT model with virtual tokens (prompt tuning, p-tuning): the
    attention the model returns spans the virtual tokens, which the pasted regions do not."""
    config = getattr(model, "active_peft_config", None)
    if attention_methods and getattr(config, "is_prompt_learning", False):
        raise ValueError(
            f"label_weights='attention' (method(s) {attention_methods}) cannot read attention on a PEFT "
            f"{config.peft_type} model: its virtual tokens shift every position. Use label_weights='area'."
        )


def _special_token_ids(tokenizer: Any, given: list[int] | None, model_config: Any) -> torch.Tensor | None:
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
