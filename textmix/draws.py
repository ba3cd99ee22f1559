"""Every random number a `Mixer` uses, drawn in one place, from generators it can checkpoint.

The order of draws is a contract
--------------------------------
Reproducibility, resume and distributed runs depend on every run drawing the same numbers in the
same order, so a change here changes every run made with a seed. `tests/test_draws.py` pins the
draws of fixed seeds; a reordering fails it loudly. Per training batch (`Mixer.mix`; eval mode
draws nothing):

1. **The plan, from the CPU generator** (seeded `seed + seed_offset`), drawn by `Draws.plan` (or
   ahead of time by `Mixer.next_method`): one float64 uniform `u` (the batch is mixed when
   `u < prob`; with `prob_per_row` every batch is planned as mixed), one multinomial draw of the
   method over the normalised method weights, and, for methods with per-batch layer choices
   (hidden Mixup), one multinomial draw of the layer among them (uniform). These three are drawn
   even when the batch then stays unmixed, so the plan stream never depends on the data.
2. **Nothing more for a batch that is not mixed** (prob, a batch of one).
3. **Per-row draws, from the generator on the batch's device** (seeded `seed + seed_offset + 1`),
   in this order:
   - *partners* (`Draws.partners`): B uniforms for `partner="permute"` (none for `"flip"`), in every
     lam_mode (`pair` mode pairs rows up with the same B uniforms);
   - text methods (`Draws.rows`): the Beta lambdas — n = 1 for the batch or B (row/pair modes), as
     one Gamma(alpha) kernel over 2 x n values (`torch._standard_gamma`; the first n are X, the
     last n are Y, lambda = X / (X + Y)), see `textmix.sampling`; then with `prob_per_row`, B
     uniforms for the per-row gate; span then draws 2 x B x S float64 uniforms for the span starts
     (S = (L + 1) // 2, the most segments a row of L tokens can hold), or, for token classification
     (spans of whole words), B x (1 + L) float64 uniforms; saliency span none;
   - image methods (`Draws.images`): with both methods of a family in row/pair mode, n uniforms
     for the per-row switch (n = 1 in batch mode, else B); the Mixup lambdas (if Mixup may be drawn);
     the CutMix lambdas (if CutMix may be drawn and `cutmix_minmax` is unset, from `cutmix_alpha`)
     and n x 4 float64 uniforms for the boxes; with `prob_per_row`, n uniforms for the gate.
4. **A clean pass draws nothing.** With `clean_weight` > 0 (RegMixup) every step runs `Mixer.clean`
   then `Mixer.mix` on the same batch: `clean` may peek at the plan (step 1, drawn once and kept
   pending for `mix`) and draws nothing else, so the draws of a run with `clean_weight` > 0 are,
   batch for batch, those of the same configuration with `clean_weight` = 0 (pinned by
   `test_a_clean_pass_draws_nothing`). Label weights from attention (`label_weights="attention"`)
   are read from the mixed forward and draw nothing either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .config import MixConfig
from .sampling import draw_lambdas, draw_partners, pair_partners


@dataclass
class Plan:
    """The per-batch choices, drawn from the CPU generator."""

    mixed: bool
    method: str | None
    layer: int | None


@dataclass
class ImageDraws:
    """The raw draws of one image batch: per draw index (n of them), mapped to rows by `source`."""

    perm: torch.Tensor
    source: torch.Tensor
    cut: torch.Tensor
    lam_blend: torch.Tensor
    lam_cut: torch.Tensor
    box_uniforms: torch.Tensor | None
    gate: torch.Tensor | None


class Draws:
    """The random state of a `Mixer`: a CPU generator for per-batch plans, one per device for rows."""

    def __init__(self, config: MixConfig, seed_offset: int = 0) -> None:
        self.config = config
        self.seed_offset = int(seed_offset)
        self.cpu = torch.Generator().manual_seed(config.seed + self.seed_offset)
        self._devices: dict[str, torch.Generator] = {}
        self._pending_states: dict[str, torch.Tensor] = {}
        self._plan: Plan | None = None

    # ------------------------------------------------------------------ generators
    def device(self, device: torch.device) -> torch.Generator:
        """The generator on `device` (created on first use; restored from a checkpoint if one was loaded)."""
        key = str(device)
        gen = self._devices.get(key)
        if gen is None:
            gen = torch.Generator(device=device).manual_seed(self.config.seed + self.seed_offset + 1)
            if key in self._pending_states:
                gen.set_state(self._pending_states.pop(key))
            self._devices[key] = gen
        return gen

    # ------------------------------------------------------------------ 1. the plan
    def _choice(self, options: list, weights: list[float]) -> Any:
        idx = torch.multinomial(torch.tensor(weights, dtype=torch.float64), 1, generator=self.cpu)
        return options[int(idx)]

    def peek(self, methods: Mapping[str, float], layer_choices: Mapping[str, list[int]]) -> Plan:
        """The next batch's plan, drawn now if not drawn yet (it stays pending until `take`)."""
        if self._plan is None:
            cfg = self.config
            u = float(torch.rand((), generator=self.cpu, dtype=torch.float64))
            method = self._choice(list(methods), list(methods.values()))
            layer = None
            choices = layer_choices.get(method)
            if choices:
                layer = int(self._choice(list(choices), [1.0] * len(choices)))
            mixed = (u < cfg.prob) if not cfg.prob_per_row else cfg.prob > 0
            self._plan = Plan(mixed=mixed, method=method if mixed else None, layer=layer if mixed else None)
        return self._plan

    def take(self, methods: Mapping[str, float], layer_choices: Mapping[str, list[int]]) -> Plan:
        """The next batch's plan, consumed."""
        plan = self.peek(methods, layer_choices)
        self._plan = None
        return plan

    # ------------------------------------------------------------------ 3. per-row draws
    def partners(self, valid: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Partners (B,), and the draw each row uses: 0 (batch mode), itself (row), the pair's first (pair)."""
        b = valid.shape[0]
        index = torch.arange(b, device=valid.device)
        mode = self.config.lam_mode
        if mode == "pair":
            perm = pair_partners(valid, self.config.partner, gen)
            return perm, torch.minimum(index, perm)
        perm = draw_partners(valid, self.config.partner, gen)
        return perm, (torch.zeros_like(index) if mode == "batch" else index)

    def gate(self, n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor | None:
        """With `prob_per_row`: which of the n draws are mixed at all (each with probability `prob`)."""
        if not self.config.prob_per_row:
            return None
        return torch.rand(n, generator=gen, device=device) < self.config.prob

    def rows(self, valid: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Partners and lambdas (B,) of the text methods; rows that are not mixed get lam = 1."""
        cfg = self.config
        b, device = valid.shape[0], valid.device
        index = torch.arange(b, device=device)
        perm, source = self.partners(valid, gen)
        lam = draw_lambdas(cfg.alpha, b, cfg.lam_mode != "batch", cfg.lam_at_least_half, gen, device)
        if cfg.lam_mode == "pair":
            lam = lam[source]
        gate = self.gate(b, gen, device)
        keep = valid & (perm != index)
        if gate is not None:
            keep &= gate[source]
        return perm, torch.where(keep, lam, torch.ones_like(lam))

    def images(
        self, valid: torch.Tensor, gen: torch.Generator, p_cut: float | None, may_blend: bool, may_cut: bool
    ) -> ImageDraws:
        """The draws of an image batch. `p_cut`: chance that a row (pair) draws CutMix rather than
        Mixup when both are configured and rows draw their own; None when the batch's method decides."""
        cfg = self.config
        b, device = valid.shape[0], valid.device
        perm, source = self.partners(valid, gen)
        n = 1 if cfg.lam_mode == "batch" else b
        if p_cut is not None:
            cut = torch.rand(n, generator=gen, device=device) < p_cut
        else:
            cut = torch.full((n,), may_cut, device=device)
        ones = torch.ones(n, device=device)
        lam_blend = draw_lambdas(cfg.alpha, n, n > 1, cfg.lam_at_least_half, gen, device) if may_blend else ones
        lam_cut, uniforms = ones, None
        if may_cut:
            if cfg.cutmix_minmax is None:
                alpha = cfg.cutmix_alpha if cfg.cutmix_alpha is not None else cfg.alpha
                lam_cut = draw_lambdas(alpha, n, n > 1, cfg.lam_at_least_half, gen, device)
            uniforms = torch.rand((n, 4), generator=gen, device=device, dtype=torch.float64)
        gate = self.gate(n, gen, device)
        return ImageDraws(perm, source, cut, lam_blend, lam_cut, uniforms, gate)

    def word_span_uniforms(self, batch_size: int, length: int, gen: torch.Generator) -> torch.Tensor:
        """Span CutMix on whole words (token classification): (B, 1 + L) float64 uniforms, the first column
        for the row's first replaced word, the others for choosing the partner's window."""
        return torch.rand((batch_size, 1 + length), generator=gen, device=gen.device, dtype=torch.float64)

    def span_uniforms(self, shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
        """Span CutMix: 2 x (B, S) float64 uniforms, for the start in the row's segment and in the partner's."""
        return torch.rand((2, *shape), generator=gen, device=gen.device, dtype=torch.float64)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Generator states and the pending plan."""
        gens = {k: g.get_state() for k, g in self._devices.items()}
        gens.update({k: v for k, v in self._pending_states.items() if k not in gens})
        plan = None if self._plan is None else [self._plan.mixed, self._plan.method, self._plan.layer]
        return {"cpu": self.cpu.get_state(), "devices": gens, "plan": plan, "seed_offset": self.seed_offset}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` saved."""
        self.cpu.set_state(state["cpu"])
        self._devices.clear()
        self._pending_states = dict(state["devices"])
        plan = state.get("plan")
        self._plan = None if plan is None else Plan(bool(plan[0]), plan[1], plan[2])
