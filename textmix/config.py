"""`MixConfig`: what to mix, how strongly and how often."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from .methods import method_names, methods_help, registered

LAM_MODES = ("batch", "row", "pair")
LABEL_WEIGHTS = ("area", "attention")
PARTNERS = ("permute", "flip")
EMBEDDING_TARGETS = ("word", "module")


@dataclass
class MixConfig:
    """Configuration of a `Mixer`.

    Every field carries help text, so `transformers.HfArgumentParser` turns the dataclass into a
    command line. `method` names one method, or several with weights (`"span:2,hidden:1"`; a dict
    `{"span": 2, "hidden": 1}` or a list of names is accepted too and stored in that string form);
    one of them is drawn for every batch. The image methods (see docs/vision.md) add `cutmix_alpha`,
    `cutmix_minmax`, `correct_lam`, `prob_per_row`, `inplace` and the `"pair"` lam_mode, which
    together cover the options of timm's `Mixup`.
    """

    method: str = field(
        default="hidden",
        metadata={
            "help": f"Mixing method: {methods_help()}; or several with weights, e.g. 'span:2,hidden:1' or "
            "'mixup:1,cutmix:1' (one is drawn per batch; with lam_mode row or pair, mixup/cutmix and "
            "patch_mixup/patch_cutmix are drawn per row or pair). Methods: see textmix.methods.",
        },
    )
    alpha: float = field(
        default=0.4,
        metadata={"help": "Lambda ~ Beta(alpha, alpha) (every method but cutmix/patch_cutmix, see cutmix_alpha). "
                  "Must be > 0."},
    )
    prob: float = field(
        default=1.0, metadata={"help": "Probability that a training batch is mixed at all (0..1)."}
    )
    prob_per_row: bool = field(
        default=False,
        metadata={"help": "Apply `prob` to every row (pair) on its own instead of to the whole batch "
                  "(timm's elem and pair modes)."},
    )
    lam_mode: str = field(
        default="batch",
        metadata={
            "choices": LAM_MODES,
            "help": "'batch': one lambda (and CutMix box) per batch; 'row': one per row (timm's mode='elem'); "
            "'pair': rows are paired up (each is the other's partner) and a pair shares lambda and box "
            "(timm's mode='pair')."
        },
    )
    lam_at_least_half: bool = field(
        default=False,
        metadata={"help": "Use lam = max(lam, 1 - lam), so each row keeps the larger share (TMix)."},
    )
    partner: str = field(
        default="permute",
        metadata={"choices": PARTNERS, "help": "How partners are chosen: 'permute' (random permutation) or 'flip' (reversed batch)."},
    )
    layers: list[int] | None = field(
        default=None,
        metadata={
            "help": "Hidden Mixup: layers whose output may be mixed (0 = embedding output, N = last layer); "
            "one is drawn per batch (TMix used 7 9 12 on BERT-base). Default: the upper half, "
            "ceil(N/2)..N. Layers beyond the model's depth are an error."
        },
    )
    embedding_target: str = field(
        default="word",
        metadata={
            "choices": EMBEDDING_TARGETS,
            "help": "Embedding Mixup: mix the word-embedding output ('word') or the whole embedding "
            "module's output, positions and normalisation included ('module')."
        },
    )
    cutmix_alpha: float | None = field(
        default=None,
        metadata={"help": "cutmix / patch_cutmix: lambda ~ Beta(cutmix_alpha, cutmix_alpha); default: alpha. "
                  "Must be > 0."},
    )
    cutmix_minmax: list[float] | None = field(
        default=None,
        metadata={
            "help": "cutmix / patch_cutmix: box sides drawn uniformly between these two fractions of the image "
            "side (timm's cutmix_minmax, e.g. 0.2 0.8) instead of from lambda; the box lies wholly inside "
            "the image."
        },
    )
    correct_lam: bool = field(
        default=True,
        metadata={
            "help": "cutmix: label weight = the pixel share the row keeps after the box is clipped at the border "
            "(True), or the drawn lambda (False, timm's correct_lam=False). patch_cutmix always uses the "
            "exact share of kept patches."
        },
    )
    inplace: bool = field(
        default=False,
        metadata={"help": "mixup / cutmix: write the mixed images into the caller's pixel_values tensor "
                  "(saves memory; timm's behaviour). By default the input is never modified."},
    )
    label_smoothing: float = field(
        default=0.0, metadata={"help": "Label smoothing applied to one-hot targets before mixing (0..1)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the mixer's random generators."})
    clean_weight: float = field(
        default=0.0,
        metadata={"help": "RegMixup (Pinto et al., 2022): every training step also trains on the clean batch, "
                  "loss = CE(clean) + clean_weight * mixed loss, two forwards per step (MixTrainer runs them; by "
                  "hand: mixer.clean(batch), then mixer.mix(batch)). 0 (default): the mixed loss alone. Pair it "
                  "with a large alpha (10-20). Works with every method. Must be >= 0."},
    )
    label_weights: str = field(
        default="area",
        metadata={
            "choices": LABEL_WEIGHTS,
            "help": "Label weight of a row that got a pasted region (cutmix, patch_cutmix, span, saliency_span): "
            "'area' (default): the share of pixels, patches or content tokens it kept; 'attention': TransMix "
            "(Chen et al., 2022), the mean of that share and the share of the last layer's attention of the "
            "pooled token ([CLS]; decoders: the last token) that falls outside the pasted region, read from "
            "the mixed forward (no extra forward). Needs the model; with models whose attention module has "
            "no query/key projections or uses rotary embeddings (decoders), attn_implementation='eager'."
        },
    )

    def __post_init__(self) -> None:
        parsed = parse_methods(self.method)
        self.method = parsed if isinstance(parsed, str) else ",".join(f"{k}:{v:g}" for k, v in parsed.items())
        if self.cutmix_minmax is not None:
            self.cutmix_minmax = [float(v) for v in self.cutmix_minmax]
        if isinstance(self.layers, int):
            self.layers = [self.layers]
        if self.layers is not None:
            self.layers = [int(k) for k in self.layers]
        self.validate()

    def validate(self) -> None:
        """Raise `ValueError` naming the fix for any field out of range."""
        if self.label_weights not in LABEL_WEIGHTS:
            raise ValueError(f"label_weights must be one of {LABEL_WEIGHTS} (got {self.label_weights!r}).")
        if self.label_weights == "attention":
            from .methods import get_method

            flat = [m for m in self.method_weights if not get_method(m).attention_labels]
            if flat:
                pasting = [m.name for m in registered() if m.attention_labels]
                raise ValueError(
                    f"label_weights='attention' weighs a row's label by the attention on the region pasted from "
                    f"its partner, but method(s) {flat} paste no region (they blend); use one of {pasting}, or "
                    "label_weights='area'."
                )
        eta = self.clean_weight
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta) or eta < 0:
            raise ValueError(
                f"clean_weight must be a number >= 0 (got {eta!r}): 0 trains on the mixed loss alone, e.g. 1 "
                "trains on CE(clean) + 1 * mixed loss (RegMixup)."
            )
        if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"alpha must be a finite number > 0 (got {self.alpha!r}); try alpha=0.4.")
        for name in ("prob", "label_smoothing"):  # a string ("1") would fail the comparison with a TypeError
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__}); e.g. {name}=1.0.")
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"prob must be within [0, 1] (got {self.prob!r}).")
        if self.lam_mode not in LAM_MODES:
            hint = " timm's mode='elem' is lam_mode='row'." if self.lam_mode == "elem" else ""
            raise ValueError(f"lam_mode must be one of {LAM_MODES} (got {self.lam_mode!r}).{hint}")
        if self.cutmix_alpha is not None and not (
            isinstance(self.cutmix_alpha, (int, float)) and math.isfinite(self.cutmix_alpha) and self.cutmix_alpha > 0
        ):
            raise ValueError(
                f"cutmix_alpha must be a finite number > 0 or None (= alpha), got {self.cutmix_alpha!r}; try 1.0."
            )
        if self.cutmix_minmax is not None:
            mm = self.cutmix_minmax
            if len(mm) != 2 or not (0.0 < mm[0] <= mm[1] <= 1.0):
                raise ValueError(
                    f"cutmix_minmax must be two fractions 0 < min <= max <= 1 of the image side, got {mm!r}; "
                    "e.g. cutmix_minmax=(0.2, 0.8)."
                )
        if self.partner not in PARTNERS:
            raise ValueError(f"partner must be one of {PARTNERS} (got {self.partner!r}).")
        if self.embedding_target not in EMBEDDING_TARGETS:
            raise ValueError(
                f"embedding_target must be one of {EMBEDDING_TARGETS} (got {self.embedding_target!r})."
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be within [0, 1) (got {self.label_smoothing!r}).")
        if "hidden" in self.method_weights and self.layers is not None:
            if not self.layers:
                raise ValueError("method 'hidden' needs at least one layer in `layers`, e.g. layers=(6,).")
            if min(self.layers) < 0:
                raise ValueError(f"layers must be >= 0 (0 is the embedding output); got {self.layers}.")

    @property
    def method_weights(self) -> dict[str, float]:
        """The methods and their normalised probabilities."""
        parsed = parse_methods(self.method)
        methods = parsed if isinstance(parsed, dict) else {parsed: 1.0}
        total = sum(methods.values())
        return {name: w / total for name, w in methods.items()}

    def to_dict(self) -> dict:
        """Plain-JSON view of the configuration."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_methods(method: str | Mapping[str, float] | Sequence[str]) -> str | dict[str, float]:
    """Normalise `method` to one name or a `{name: weight}` dict; raise on unknown names or bad weights."""
    if isinstance(method, str) and ("," in method or ":" in method):
        parsed: dict[str, float] = {}
        for part in method.split(","):
            name, _, weight = part.strip().partition(":")
            try:
                parsed[name.strip()] = float(weight) if weight else 1.0
            except ValueError:
                raise ValueError(f"bad method weight in {method!r}; write e.g. 'span:2,hidden:1'.") from None
        method = parsed
    elif not isinstance(method, (str, Mapping)):
        method = {name: 1.0 for name in method}
    names = [method] if isinstance(method, str) else list(method)
    known = method_names()
    unknown = [m for m in names if m not in known]
    if unknown:
        hint = " ('none' means no mixer at all: leave the Mixer out.)" if "none" in unknown else ""
        raise ValueError(f"unknown mixing method(s) {unknown}; choose from {known}.{hint}")
    if isinstance(method, str):
        return method
    weights = {str(k): float(v) for k, v in method.items()}
    if not weights or any(not (math.isfinite(w) and w >= 0) for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"method weights must be >= 0 with a positive sum (got {weights}).")
    weights = {k: v for k, v in weights.items() if v > 0}
    return next(iter(weights)) if len(weights) == 1 else weights
