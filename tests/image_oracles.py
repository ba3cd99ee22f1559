"""Per-row reference implementations of the image methods: plain Python loops over rows and pixels.

`reference_draws` consumes the mixer's device generator in the documented order (partners, the
per-row switch, Mixup lambdas, CutMix lambdas and box uniforms, the per-row gate) and works out
every row's partner, lambda and box one row at a time, with Python arithmetic. Partners and Beta
draws reuse `textmix.sampling` (tested on their own in test_sampling.py); everything after them is
written again here, on purpose without vectorisation.
"""

from __future__ import annotations

import math

import torch

from textmix.sampling import draw_lambdas, draw_partners


def reference_pairs(valid: list[bool], mode: str, u: list[float] | None) -> list[int]:
    """Pair the valid rows: reversed order (flip) or consecutive rows of the order sorted by `u`."""
    b = len(valid)
    rows = [i for i in range(b) if valid[i]]
    if mode == "permute":
        rows.sort(key=lambda i: u[i])
    perm = list(range(b))
    if mode == "flip":
        for k, i in enumerate(rows):
            perm[i] = rows[len(rows) - 1 - k]
    else:
        for k in range(0, len(rows) - 1, 2):
            perm[rows[k]], perm[rows[k + 1]] = rows[k + 1], rows[k]
    return perm


def reference_box(lam: float, u: list[float], size: tuple[int, int], minmax=None) -> tuple[int, int, int, int]:
    """One CutMix box [y0, y1, x0, x1) from its lambda and four uniforms, as the docs describe it."""
    H, W = size
    if minmax is None:
        r = math.sqrt(min(max(1.0 - lam, 0.0), 1.0))
        h, w = round(H * r), round(W * r)  # Python rounds halves to even, as torch.round
        cy, cx = min(int(math.floor(u[0] * H)), H - 1), min(int(math.floor(u[1] * W)), W - 1)
        y0, x0 = cy - h // 2, cx - w // 2
        clip = lambda v, hi: max(0, min(v, hi))  # noqa: E731
        return clip(y0, H), clip(y0 + h, H), clip(x0, W), clip(x0 + w, W)
    lo, hi = minmax
    h = max(0, min(int(math.floor(H * (lo + u[2] * (hi - lo)))), H))
    w = max(0, min(int(math.floor(W * (lo + u[3] * (hi - lo)))), W))
    y0 = min(int(math.floor(u[0] * (H - h + 1))), H - h)
    x0 = min(int(math.floor(u[1] * (W - w + 1))), W - w)
    return y0, y0 + h, x0, x0 + w


def reference_draws(cfg, methods: dict[str, float], method: str, valid: torch.Tensor, size, gen: torch.Generator):
    """Partner, label weight, Mixup weight and box of every row, one row at a time.

    `method` is what the mixer drew for the batch; `methods` its normalised weights; `size` the
    pixel (or patch-grid) size. Returns (perm, lam, blend, boxes) as Python lists.
    """
    b = valid.shape[0]
    device = valid.device
    first = method.split("+")[0]  # "mixup+cutmix": rows drew their method one by one
    family = ("mixup", "cutmix") if first in ("mixup", "cutmix") else ("patch_mixup", "patch_cutmix")
    if cfg.lam_mode == "pair":
        u = torch.rand(b, generator=gen, device=device).tolist() if cfg.partner == "permute" else None
        perm = reference_pairs(valid.tolist(), cfg.partner, u)
    else:
        perm = draw_partners(valid, cfg.partner, gen).tolist()
    n = 1 if cfg.lam_mode == "batch" else b
    weights = {m: w for m, w in methods.items() if m in family}
    if n > 1 and len(weights) == 2:
        p_cut = weights[family[1]] / sum(weights.values())
        cut = [v < p_cut for v in torch.rand(n, generator=gen, device=device).tolist()]
        may_blend = may_cut = True
    else:
        cut = [method == family[1]] * n
        may_blend, may_cut = method == family[0], method == family[1]
    lam_blend = draw_lambdas(cfg.alpha, n, n > 1, cfg.lam_at_least_half, gen, device).tolist() if may_blend else [1.0] * n
    lam_cut, u_box = [1.0] * n, [[0.0] * 4] * n
    if may_cut:
        if cfg.cutmix_minmax is None:
            alpha = cfg.cutmix_alpha if cfg.cutmix_alpha is not None else cfg.alpha
            lam_cut = draw_lambdas(alpha, n, n > 1, cfg.lam_at_least_half, gen, device).tolist()
        u_box = torch.rand((n, 4), generator=gen, device=device, dtype=torch.float64).tolist()
    gate = [True] * n
    if cfg.prob_per_row:
        gate = [v < cfg.prob for v in torch.rand(n, generator=gen, device=device).tolist()]
    lam, blend, boxes = [], [], []
    H, W = size
    for i in range(b):
        s = 0 if cfg.lam_mode == "batch" else (min(i, perm[i]) if cfg.lam_mode == "pair" else i)
        mixed = bool(valid[i]) and perm[i] != i and gate[s]
        if not mixed:
            lam.append(1.0)
            blend.append(1.0)
            boxes.append((0, 0, 0, 0))
        elif cut[s]:
            box = reference_box(lam_cut[s], u_box[s], size, cfg.cutmix_minmax) if may_cut else (0, 0, 0, 0)
            area = max(0, box[1] - box[0]) * max(0, box[3] - box[2])
            exact = family[0] == "patch_mixup" or cfg.correct_lam or cfg.cutmix_minmax is not None
            lam.append(1.0 - area / (H * W) if exact else lam_cut[s])
            blend.append(1.0)
            boxes.append(box)
        else:
            lam.append(lam_blend[s])
            blend.append(lam_blend[s])
            boxes.append((0, 0, 0, 0))
    return perm, lam, blend, boxes


def reference_images(x: torch.Tensor, perm, blend, boxes) -> torch.Tensor:
    """Row i: blend[i] * x[i] + (1 - blend[i]) * x[perm[i]], then the partner's pixels inside box i, pixel by pixel."""
    out = x.clone()
    for i in range(x.shape[0]):
        j = perm[i]
        if blend[i] < 1:
            out[i] = torch.lerp(x[j], x[i], torch.tensor(blend[i], dtype=x.dtype))
        y0, y1, x0, x1 = boxes[i]
        for yy in range(y0, y1):
            for xx in range(x0, x1):
                out[i, :, yy, xx] = x[j, :, yy, xx]
    return out


def reference_tokens(tokens: torch.Tensor, perm, blend, boxes, grid) -> torch.Tensor:
    """Patch tokens (B, N, D): token (r, c) of row i is the partner's inside box i, else the blend of the two."""
    gh, gw = grid
    out = tokens.clone()
    for i in range(tokens.shape[0]):
        j = perm[i]
        y0, y1, x0, x1 = boxes[i]
        for r in range(gh):
            for c in range(gw):
                t = r * gw + c
                if y0 <= r < y1 and x0 <= c < x1:
                    out[i, t] = tokens[j, t]
                elif blend[i] < 1:
                    out[i, t] = blend[i] * tokens[i, t] + (1 - blend[i]) * tokens[j, t]
    return out


def reference_targets(labels: torch.Tensor, perm, lam, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """timm's mixup_target, row by row: lam * smooth(one_hot(y_i)) + (1 - lam) * smooth(one_hot(y_perm[i]))."""
    off, on = smoothing / num_classes, 1.0 - smoothing + smoothing / num_classes
    rows = []
    for i in range(labels.shape[0]):
        a = [on if c == int(labels[i]) else off for c in range(num_classes)]
        p = [on if c == int(labels[perm[i]]) else off for c in range(num_classes)]
        rows.append([lam[i] * a[c] + (1 - lam[i]) * p[c] for c in range(num_classes)])
    return torch.tensor(rows)
