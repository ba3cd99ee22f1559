"""Label weights from attention (`label_weights="attention"`): TransMix on a tiny ViT (patch and pixel CutMix),
attention-weighted span labels on BERT and a Llama-layout decoder, against weights computed by hand (loops)
from `output_attentions=True` with eager attention on the same mixed batch.

The oracle mixer uses `label_weights="area"` (the draws are the same) and runs the eager model with
`output_attentions=True`; the row's own weight is, as in TransMix's reference (`ratio=0.5`), the mean of
its kept area share and 1 - (attention on the pasted region / attention on all patches or content
tokens). The models get a large initializer range so that attention is far from uniform and the
attention weight far from the area weight.
"""

from __future__ import annotations

import pytest
import torch
from conftest import SPECIAL, tiny_model

from textmix import MixConfig, Mixer

LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 1, 0])
SIZE = (8, 12)
"""Image height and width: non-square (a 4 x 6 patch grid), so swapped grid axes are seen."""


def vit(impl: str):
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    return ViTForImageClassification(ViTConfig(
        image_size=SIZE, patch_size=2, num_channels=3, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=16, num_labels=3, initializer_range=0.5, attn_implementation=impl)).train()


def hand_lam(attn_row: torch.Tensor, region: list[bool], support: list[bool], area: float | None = None) -> float:
    """TransMix by hand: (kept area share + kept attention share) / 2, with python sums; the area share is
    the kept share of `support` unless given (pixel CutMix: the kept pixel share)."""
    on = [float(a) for a, r, s in zip(attn_row, region, support, strict=True) if s]
    pasted = sum(float(a) for a, r, s in zip(attn_row, region, support, strict=True) if s and r)
    if area is None:
        area = 1 - sum(1 for r, s in zip(region, support, strict=True) if r and s) / len(on)
    return (area + (1 - pasted / sum(on))) / 2


def check_targets(mb, labels, lam_expected):
    torch.testing.assert_close(mb.lam, torch.tensor(lam_expected), rtol=1e-4, atol=1e-5)
    eye = torch.eye(3)
    want = mb.lam[:, None] * eye[labels] + (1 - mb.lam[:, None]) * eye[labels[mb.perm]]
    torch.testing.assert_close(mb.targets, want)


def mixed_weights(model, cfg, batch, **kwargs):
    """The mixer's weights under label_weights='attention' after one forward (the loss reads them)."""
    mixer = Mixer(model, MixConfig(**cfg, label_weights="attention"), **kwargs)
    with mixer:
        if mixer.next_needs_saliency:
            clean = mixer.clean(batch)
            clean.loss(model(**clean.inputs).logits).backward()
        mb = mixer.mix(batch)
        area = mb.lam.clone()
        mb.loss(model(**mb.inputs).logits).backward()
    return mb, area


def oracle_forward(model, cfg, batch, **kwargs):
    """The same draws with label_weights='area', the eager model run with output_attentions=True."""
    mixer = Mixer(model, MixConfig(**cfg), **kwargs)
    with mixer:
        if mixer.next_needs_saliency:
            clean = mixer.clean(batch)
            clean.loss(model(**clean.inputs).logits).backward()
        mb = mixer.mix(batch)
        out = model(**mb.inputs, output_attentions=True)
    return mb, out.attentions[-1].detach().mean(1)  # (B, L, L), mean over heads


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("method", ["patch_cutmix", "cutmix"])
def test_transmix_weights_equal_the_hand_computation(method, impl):
    g = torch.Generator().manual_seed(0)
    batch = {"pixel_values": torch.rand((8, 3, *SIZE), generator=g), "labels": LABELS}
    cfg = dict(method=method, alpha=1.0, cutmix_alpha=1.0, lam_mode="row", seed=1)
    mb, area = mixed_weights(vit(impl), cfg, batch)
    ref, attn = oracle_forward(vit("eager"), cfg, batch)
    assert torch.equal(ref.perm, mb.perm) and torch.equal(ref.boxes, mb.boxes) and torch.equal(ref.lam, area)
    (gh, gw), cell = (4, 6), (1 if method == "patch_cutmix" else 2)  # boxes on the patch grid, or in pixels
    expected = []
    for i in range(8):
        y0, y1, x0, x1 = ref.boxes[i].tolist()
        # patch (r, c) is pasted when its nearest-neighbour pixel (r * 2, c * 2) lies in the pixel box
        region = [y0 <= r * cell < y1 and x0 <= c * cell < x1 for r in range(gh) for c in range(gw)]
        pixels = 1 - (y1 - y0) * (x1 - x0) / 96 if method == "cutmix" else None  # the kept share of 8 x 12 pixels
        expected.append(hand_lam(attn[i, 0, 1:], region, [True] * gh * gw, pixels) if ref.perm[i] != i else 1.0)
    assert sum(e < 1 for e in expected) >= 3
    assert (mb.lam - area).abs().max() > 0.01  # attention is not the area here: the test can tell them apart
    check_targets(mb, LABELS, expected)


def unique_text_batch(b: int = 8, length: int = 12, seed: int = 0, decoder: bool = False, side: str = "right"):
    """Rows of distinct content ids (no id appears twice in the batch), so pasted tokens are where ids changed."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros((b, length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    pool = (torch.randperm(117, generator=g) + 3).tolist()
    for i in range(b):
        n = int(torch.randint(5, length + 1, (1,), generator=g))
        row = [SPECIAL["cls"], *[pool.pop() for _ in range(n - 2)], SPECIAL["sep"]]
        where = slice(0, n) if side == "right" else slice(length - n, length)
        ids[i, where], mask[i, where] = torch.tensor(row), 1
    return {"input_ids": ids, "attention_mask": mask, "labels": LABELS[:b]}


def span_expected(batch, ref, attn, query):
    ids, new = batch["input_ids"], ref.inputs["input_ids"]
    content = (batch["attention_mask"] == 1) & (ids > 2)
    out = []
    for i in range(ids.shape[0]):
        region = (new[i] != ids[i]).tolist()
        out.append(hand_lam(attn[i, int(query[i])], region, content[i].tolist()) if ref.perm[i] != i else 1.0)
    return out


@pytest.mark.parametrize(("method", "impl"), [("span", "eager"), ("span", "sdpa"), ("saliency_span", "sdpa")])
def test_span_attention_weights_on_bert_equal_the_hand_computation(method, impl):
    batch = unique_text_batch(seed=4)
    cfg = dict(method=method, alpha=1.0, lam_mode="row", seed=2)
    kw = dict(special_token_ids=list(SPECIAL.values()))
    mb, area = mixed_weights(tiny_model("bert", initializer_range=0.5, attn_implementation=impl), cfg, batch, **kw)
    ref, attn = oracle_forward(tiny_model("bert", initializer_range=0.5, attn_implementation="eager"), cfg, batch,
                               **kw)
    assert torch.equal(ref.perm, mb.perm) and torch.equal(ref.inputs["input_ids"], mb.inputs["input_ids"])
    expected = span_expected(batch, ref, attn, torch.zeros(8, dtype=torch.long))  # the [CLS] row
    assert sum(e < 1 for e in expected) >= 3 and (mb.lam - area).abs().max() > 0.01
    check_targets(mb, LABELS, expected)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_span_attention_weights_through_lora_equal_those_of_the_merged_model(impl):
    """A LoRA-wrapped BERT (adapters on the last layer's query and key, with dropout) under SDPA: the
    weights are those of the merged model's eager `output_attentions` on the same draws (the adapters'
    update counted, their dropout not), and differ from the plain model's (the adapters matter here)."""
    peft = pytest.importorskip("peft")
    batch = unique_text_batch(seed=4)
    cfg = dict(method="span", alpha=1.0, lam_mode="row", seed=2)
    kw = dict(special_token_ids=list(SPECIAL.values()))

    def wrapped(attn_implementation):
        model = tiny_model("bert", initializer_range=0.5, attn_implementation=attn_implementation)
        torch.manual_seed(1)
        # random B: the adapters count; on the last layer only, so its input is the merged model's too
        config = peft.LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=16, target_modules=["query", "key"],
                                 layers_to_transform=[2], layers_pattern="layer", lora_dropout=0.5,
                                 init_lora_weights=False)
        return peft.get_peft_model(model, config).train()

    mb, area = mixed_weights(wrapped(impl), cfg, batch, **kw)
    merged = wrapped("eager").merge_and_unload().train()
    ref, attn = oracle_forward(merged, cfg, batch, **kw)
    assert torch.equal(ref.perm, mb.perm) and torch.equal(ref.inputs["input_ids"], mb.inputs["input_ids"])
    expected = span_expected(batch, ref, attn, torch.zeros(8, dtype=torch.long))
    assert sum(e < 1 for e in expected) >= 3 and (mb.lam - area).abs().max() > 0.01
    check_targets(mb, LABELS, expected)
    plain, _ = mixed_weights(tiny_model("bert", initializer_range=0.5, attn_implementation=impl), cfg, batch, **kw)
    assert (plain.lam - mb.lam).abs().max() > 1e-3


def tiny_llama(impl: str):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    return LlamaForSequenceClassification(LlamaConfig(
        vocab_size=120, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=64, num_labels=3, pad_token_id=0, bos_token_id=1,
        eos_token_id=2, initializer_range=0.5, attn_implementation=impl)).train()


@pytest.mark.parametrize("side", ["right", "left"])
def test_span_attention_weights_on_a_llama_layout_decoder_read_the_pooled_token(side):
    batch = unique_text_batch(seed=5, side=side)
    cfg = dict(method="span", alpha=1.0, lam_mode="row", seed=3)
    kw = dict(special_token_ids=list(SPECIAL.values()))
    mb, area = mixed_weights(tiny_llama("eager"), cfg, batch, **kw)
    ref, attn = oracle_forward(tiny_llama("eager"), cfg, batch, **kw)
    ids = batch["input_ids"]
    last = torch.tensor([max(t for t in range(ids.shape[1]) if ids[i, t] != 0) for i in range(ids.shape[0])])
    expected = span_expected(batch, ref, attn, last)
    assert sum(e < 1 for e in expected) >= 3 and (mb.lam - area).abs().max() > 0.01
    check_targets(mb, LABELS, expected)


# ---------------------------------------------------------------- clear errors


def test_attention_on_a_decoder_without_eager_attention_names_the_fix():
    with pytest.raises(ValueError, match="attn_implementation='eager'"):
        Mixer(tiny_llama("sdpa"), MixConfig(method="span", label_weights="attention"), special_token_ids=[0, 1, 2])


@pytest.mark.parametrize("method", ["embedding", "hidden", "pooled", "mixup", "patch_mixup", "span:1,hidden:1",
                                    "mixup:1,cutmix:1"])
def test_attention_with_a_method_that_pastes_no_region_is_an_error(method):
    with pytest.raises(ValueError, match="paste no region"):
        MixConfig(method=method, label_weights="attention")


def test_unknown_label_weights_is_an_error():
    with pytest.raises(ValueError, match="label_weights must be one of"):
        MixConfig(method="span", label_weights="length")


def test_pixel_cutmix_with_attention_needs_the_model():
    with pytest.raises(ValueError, match="pass the model"):
        Mixer(None, MixConfig(method="cutmix", label_weights="attention"), num_labels=3)


def test_attention_on_token_classification_is_an_error():
    from test_token_classification import tiny_tagger

    with pytest.raises(ValueError, match="label_weights='area'"):
        Mixer(tiny_tagger(), MixConfig(method="span", label_weights="attention"), special_token_ids=[0, 1, 2])


def test_the_loss_before_the_forward_is_an_error_and_eval_mixes_nothing():
    model = vit("sdpa")
    batch = {"pixel_values": torch.rand((8, 3, *SIZE)), "labels": LABELS}
    mixer = Mixer(model, MixConfig(method="patch_cutmix", alpha=1.0, label_weights="attention"))
    with mixer:
        mb = mixer.mix(batch)
        with pytest.raises(RuntimeError, match="run the model on mb.inputs"):
            mb.loss(torch.zeros((8, 3)))
        model.eval()
        mb = mixer.mix(batch)
        assert not mb.mixed and mb.attention is None


def test_mixtrainer_trains_with_transmix_and_the_clean_loss(tmp_path):
    """Both options through MixTrainer on a tiny ViT: the logged label weight is the attention one."""
    from test_regmixup import trainer_step

    model = vit("sdpa")
    g = torch.Generator().manual_seed(0)
    batch = {"pixel_values": torch.rand((8, 3, *SIZE), generator=g), "labels": torch.randint(0, 3, (8,), generator=g)}
    seen, loss, grads = trainer_step(tmp_path, model, batch, 1, mix_method="patch_cutmix", mix_alpha=1.0,
                                     mix_label_weights="attention", mix_clean_weight=1.0, mix_lam_mode="row")
    assert torch.isfinite(loss) and grads and all(torch.isfinite(g).all() for g in grads.values())


@pytest.mark.parametrize("form", ["padding01", "bool4d", "additive4d", "none"])
def test_recomputed_attention_row_takes_every_mask_form(form):
    """`recompute_row` against a per-row, per-head loop, for each way a model hands its attention module a mask."""
    from torch import nn

    from textmix.attention import recompute_row

    torch.manual_seed(0)
    module = nn.Module()
    module.query, module.key, module.num_attention_heads = nn.Linear(8, 8), nn.Linear(8, 8), 2
    hidden = torch.randn(3, 5, 8)
    keep = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
    query = torch.tensor([0, 2, 1])
    masks = {"padding01": keep, "bool4d": keep.bool()[:, None, None, :].expand(3, 1, 5, 5),
             "additive4d": ((1.0 - keep.float()) * -1e9)[:, None, None, :], "none": None}
    got = recompute_row(module, hidden, masks[form], query)
    module.requires_grad_(False)
    for i in range(3):
        want = torch.zeros(5)
        for h in range(2):
            q = module.query(hidden[i, int(query[i])])[h * 4:(h + 1) * 4]
            k = module.key(hidden[i])[:, h * 4:(h + 1) * 4]
            scores = [float(q @ k[j]) / 2.0 for j in range(5)]
            allowed = [j for j in range(5) if form == "none" or keep[i, j]]
            z = sum(torch.exp(torch.tensor(scores[j])) for j in allowed)
            for j in allowed:
                want[j] += float(torch.exp(torch.tensor(scores[j])) / z) / 2
        torch.testing.assert_close(got[i], want, rtol=1e-4, atol=1e-6)


def last_layer_qk(model):
    """The last layer's query and key weights (ViT: query/key; Llama: q_proj/k_proj)."""
    from textmix.attention import QK_NAMES

    module = [m for m in model.modules() if any(hasattr(m, q) for q, _ in QK_NAMES)][-1]
    q, k = next((getattr(module, q), getattr(module, k)) for q, k in QK_NAMES if hasattr(module, q))
    return [q.weight, k.weight]


@pytest.mark.parametrize("kind", ["vit-eager", "vit-sdpa", "llama-eager"])
def test_attention_label_weights_carry_no_gradient_into_q_and_k(kind):
    """The label weights are read from the forward as constants (TransMix): they carry no grad, and the
    gradients of q/k (and every parameter) are those of the plain soft-target loss against the same targets
    held fixed, the oracle: -(targets * log_softmax(logits)).sum(1).mean()."""
    if kind.startswith("vit"):
        model = vit(kind.split("-")[1])
        g = torch.Generator().manual_seed(3)
        batch = {"pixel_values": torch.rand((8, 3, *SIZE), generator=g), "labels": LABELS}
        mixer = Mixer(model, MixConfig(method="patch_cutmix", alpha=1.0, lam_mode="row", seed=1,
                                       label_weights="attention"))
    else:
        model = tiny_llama("eager")
        batch = unique_text_batch(seed=5)
        mixer = Mixer(model, MixConfig(method="span", alpha=1.0, lam_mode="row", seed=3, label_weights="attention"),
                      special_token_ids=list(SPECIAL.values()))
    params = [p for p in model.parameters() if p.requires_grad]
    qk = last_layer_qk(model)
    with mixer:
        mb = mixer.mix(batch)
        area = mb.lam.clone()
        logits = model(**mb.inputs).logits
        loss = mb.loss(logits)
    assert not mb.lam.requires_grad and not mb.targets.requires_grad
    assert (mb.lam - area).abs().max() > 0.01  # the attention moved the weights
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    plain = -(mb.targets.detach() * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
    expected = torch.autograd.grad(plain, params, allow_unused=True)
    for got, want in zip(grads, expected, strict=True):
        if want is None:
            assert got is None or not got.abs().any()
            continue
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert any(p is w for p in params for w in qk)  # q/k are among the parameters compared
    assert all(g is not None and g.abs().sum() > 0 for p, g in zip(params, grads, strict=True) if any(p is w for w in qk))


def test_attention_lam_is_the_mean_of_area_and_kept_attention_by_hand():
    """`AttentionLabels.lam` on hand numbers: attention (0.1 | 0.2, 0.3, 0.4) over 3 keys after a class
    token, pasted region (0, 1, 1), all keys count, area 1/3 kept: pasted share 0.7 / 0.9, lam = (1/3 + 2/9) / 2."""
    from textmix.attention import AttentionLabels

    labels = AttentionLabels(region=torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]),
                             support=torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]),
                             area=torch.tensor([1 / 3, 0.5]), query=torch.zeros(2, dtype=torch.long))
    labels.attn = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.1, 0.2]])
    # row 2: keys (0.3, 0.1, 0.2), support the first two: pasted 0.3 / 0.4
    torch.testing.assert_close(labels.lam(), torch.tensor([(1 / 3 + (1 - 0.7 / 0.9)) / 2, (0.5 + (1 - 0.75)) / 2]))
