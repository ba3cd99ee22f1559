"""Reference computations the tests compare textmix against: plain forwards with hand-mixed tensors."""

from __future__ import annotations

import torch

from textmix.architectures import ARCHITECTURES, resolve


def mixed_forward(model, cfg, batch, **mixer_kwargs):
    """One mixed batch and the logits of its forward (no grad) through a freshly attached `Mixer`."""
    from textmix import Mixer

    with Mixer(model, cfg, **mixer_kwargs) as mixer:
        mb = mixer.mix(batch)
        with torch.no_grad():
            return mb, model(**mb.inputs).logits


def bf16_mixed_step(model, cfg, batch, special_token_ids):
    """A mixed forward and backward under CPU bf16 autocast; checks the logits are bf16 and the loss finite."""
    from textmix import Mixer

    with Mixer(model, cfg, special_token_ids=special_token_ids) as mixer, torch.autocast("cpu", dtype=torch.bfloat16):
        mb = mixer.mix(batch)
        logits = model(**mb.inputs).logits
        loss = mb.loss(logits)
    loss.backward()
    assert logits.dtype == torch.bfloat16 and torch.isfinite(loss)
    return mb, logits


def modules_of(model):
    return resolve(model, ARCHITECTURES[model.config.model_type])


def hand_union(mask: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Row-by-row union of own and partner mask for mixed rows (a loop, on purpose)."""
    out = mask.clone()
    for i in range(mask.shape[0]):
        if lam[i] < 1:
            out[i] = torch.clamp(mask[i] + mask[int(perm[i])], max=1)
    return out


def hand_mix(x: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Row-by-row lam * x[i] + (1 - lam) * x[perm[i]] (a loop, on purpose)."""
    rows = [float(lam[i]) * x[i] + (1 - float(lam[i])) * x[int(perm[i])] for i in range(x.shape[0])]
    return torch.stack(rows)


def roberta_positions(mask: torch.Tensor, pad: int) -> torch.Tensor:
    pos = torch.zeros_like(mask)
    for i in range(mask.shape[0]):
        n = 0
        for t in range(mask.shape[1]):
            if mask[i, t]:
                n += 1
                pos[i, t] = pad + n
            else:
                pos[i, t] = pad
    return pos


def embedding_oracle(model, batch, perm, lam, target: str = "word"):
    """Logits of a forward on hand-mixed `inputs_embeds` with the OR-ed mask."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    union = hand_union(inputs["attention_mask"], perm, lam)
    with torch.no_grad():
        if target == "word":
            emb = model.get_input_embeddings()(inputs.pop("input_ids"))
            kwargs = dict(inputs, attention_mask=union, inputs_embeds=hand_mix(emb, perm, lam))
            if ARCHITECTURES[model.config.model_type].padded_positions:
                kwargs["position_ids"] = roberta_positions(union, model.config.pad_token_id)
            return model(**kwargs).logits
    raise ValueError(target)


def replace_oracle(model, batch, module, perm, lam, call_index: int = 0, pre: bool = False, union: bool = True):
    """Two passes: a clean one records `module`'s output (or input, `pre`) at its `call_index`-th call;
    a second pass, given the OR-ed mask, has that tensor replaced by its hand-mixed version.

    Everything before the replaced point ran with each row's own mask; everything after sees the
    union mask, as computed by the model itself from `attention_mask`.
    """
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    recorded = []

    def record(mod, args, output=None):
        t = args[0] if pre else (output if isinstance(output, torch.Tensor) else output[0])
        recorded.append(t.detach().clone())

    handle = module.register_forward_pre_hook(record) if pre else module.register_forward_hook(record)
    with torch.no_grad():
        model(**inputs)
    handle.remove()
    mixed = hand_mix(recorded[call_index], perm, lam)
    calls = [0]

    def replace_pre(mod, args):
        calls[0] += 1
        if calls[0] - 1 == call_index:
            return (mixed, *args[1:])
        return None

    def replace_out(mod, args, output):
        calls[0] += 1
        if calls[0] - 1 == call_index:
            return mixed if isinstance(output, torch.Tensor) else (mixed, *output[1:])
        return None

    handle = module.register_forward_pre_hook(replace_pre) if pre else module.register_forward_hook(replace_out)
    if union:
        inputs["attention_mask"] = hand_union(inputs["attention_mask"], perm, lam)
    try:
        with torch.no_grad():
            return model(**inputs).logits
    finally:
        handle.remove()
