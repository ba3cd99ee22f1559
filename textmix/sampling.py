"""Random draws of a mixing step: partners and lambdas, from an explicit generator.

Everything here takes a `torch.Generator` on the batch's device, so a run is reproducible and its
generator state can be checkpointed; nothing here reads values back to the host.
"""

from __future__ import annotations

import torch


def reads_are_free(device: torch.device | str) -> bool:
    """Whether reading a tensor's values on the host costs no synchronisation (CPU tensors).

    Code that would read values back (a Python loop over rows, an early check) does so only where
    this is True; elsewhere it stays on the device, so `Mixer.mix` never waits for an accelerator.
    """
    return torch.device(device).type == "cpu"


def sample_gamma(shape: float, size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """`size` draws of Gamma(shape, 1) (float64) from `generator`, in one kernel, without host synchronisation."""
    concentration = torch.full((size,), float(shape), dtype=torch.float64, device=device)
    return torch._standard_gamma(concentration, generator=generator)


def sample_beta(
    alpha: float,
    size: int,
    generator: torch.Generator,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """`size` draws of Beta(alpha, alpha) from `generator` (computed in float64, returned as `dtype`).

    One Gamma kernel for the 2 x `size` gammas: X / (X + Y) with X, Y ~ Gamma(alpha).
    """
    g = sample_gamma(alpha, 2 * size, generator, device).view(2, size)
    x, y = g[0], g[1]
    total = x + y
    # Both gammas underflow to 0 only for tiny alpha; then the draw is 0 or 1 with equal chance.
    lam = torch.where(total > 0, x / total.clamp_min(1e-300), (x >= y).to(x.dtype))
    return lam.to(dtype)


def draw_lambdas(
    alpha: float,
    batch_size: int,
    per_row: bool,
    at_least_half: bool,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """Per-row lambdas (B,): one Beta(alpha, alpha) draw shared by the batch, or one per row."""
    lam = sample_beta(alpha, batch_size if per_row else 1, generator, device)
    if at_least_half:
        lam = torch.maximum(lam, 1.0 - lam)
    return lam.expand(batch_size).clone() if not per_row else lam


def draw_partners(
    valid: torch.Tensor, mode: str, generator: torch.Generator
) -> torch.Tensor:
    """Partner index of every row (B,), chosen among the rows where `valid` is True.

    `mode="permute"`: a random permutation of the valid rows; `"flip"`: the valid rows in reverse
    order. Invalid rows (e.g. labelled -100) are their own partner and nobody's partner.
    """
    b = valid.shape[0]
    device = valid.device
    index = torch.arange(b, device=device)
    if mode == "flip":
        # Sort key: valid rows first by descending index, so the valid rows are reversed in place.
        order = torch.argsort(torch.where(valid, index, index + b))
        reversed_order = torch.argsort(torch.where(valid, b - index, index + 2 * b))
        perm = index.clone()
        perm[order] = reversed_order
        return torch.where(valid, perm, index)
    keys = torch.rand(b, generator=generator, device=device)
    keys = torch.where(valid, keys, 2.0 + index.to(keys.dtype))  # invalid rows stay at the end, in order
    shuffled = torch.argsort(keys)  # valid rows in random order, then invalid rows
    in_order = torch.argsort(torch.where(valid, index, index + b))  # valid rows in order, then invalid rows
    perm = index.clone()
    perm[in_order] = shuffled
    return torch.where(valid, perm, index)


def pair_partners(valid: torch.Tensor, mode: str, generator: torch.Generator) -> torch.Tensor:
    """Partners that pair the rows up: ``perm[perm[i]] == i`` for every row (B,).

    `mode="flip"`: the valid rows in reverse order (timm's pairing: first with last, ...);
    `"permute"`: a random pairing of the valid rows (consecutive rows of a random order). With an
    odd number of valid rows one of them is left without a partner (its own partner), as are invalid
    rows. Draws B uniforms for `"permute"`, nothing for `"flip"`.
    """
    b = valid.shape[0]
    device = valid.device
    index = torch.arange(b, device=device)
    n_valid = valid.sum()
    if mode == "flip":
        keys = torch.where(valid, index.to(torch.float32), 2.0 * b + index)
    elif mode == "permute":
        keys = torch.rand(b, generator=generator, device=device)
        keys = torch.where(valid, keys, 2.0 + index.to(keys.dtype))
    else:
        raise ValueError(f"partner mode must be 'permute' or 'flip', got {mode!r}.")
    order = torch.argsort(keys)  # valid rows first (in pairing order), then the invalid rows
    position = torch.empty_like(index)
    position[order] = index
    if mode == "flip":
        mate = torch.where(position < n_valid, n_valid - 1 - position, position)
    else:
        mate = position ^ 1
        mate = torch.where((position < n_valid) & (mate < n_valid), mate, position)
    return order[mate]
