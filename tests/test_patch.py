"""Patch-token methods on ViT and DeiT (tiny random configs) against oracles; MixTrainer on images."""

from __future__ import annotations

import pytest
import torch
from image_oracles import reference_draws, reference_images, reference_tokens
from oracles import replace_oracle
from transformers import AutoConfig, AutoModelForImageClassification

from textmix import MixConfig, Mixer
from textmix import image as ops
from textmix.architectures import ARCHITECTURES, resolve

VISION = ["vit", "deit"]
SIZE = (12, 15)
"""Default image height and width: non-square, so a grid with its axes swapped (height <-> width) is seen."""
GRID = (4, 5)
"""The patch grid of SIZE with 3 x 3 patches: 4 rows, 5 columns."""


def tiny_vit(model_type="vit", num_labels=5, image_size=SIZE, patch_size=3, seed=0, **overrides):
    """A 2-layer, hidden-16 image classifier without dropout, in train mode (4 x 5 patches by default)."""
    kwargs = dict(image_size=image_size, patch_size=patch_size, num_channels=3, hidden_size=16,
                  num_hidden_layers=2, num_attention_heads=2, intermediate_size=24, num_labels=num_labels,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    if model_type == "deit":  # AutoModel picks the class from `architectures`; without it the lookup fails
        kwargs["architectures"] = ["DeiTForImageClassification"]
    kwargs.update(overrides)
    torch.manual_seed(seed)
    model = AutoModelForImageClassification.from_config(AutoConfig.for_model(model_type, **kwargs))
    return model.train()


def image_batch(b=7, size=SIZE, num_labels=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.randn((b, 3, *size), generator=g),
            "labels": torch.randint(0, num_labels, (b,), generator=g)}


def mixed_logits(model, cfg, batch, **kw):
    mixer = Mixer(model, cfg, **kw)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    with mixer:
        mb = mixer.mix(batch)
        with torch.no_grad():
            logits = model(**mb.inputs).logits
    return mixer, mb, logits, gen


def patch_module(model):
    return resolve(model, ARCHITECTURES[model.config.model_type], needs=("patch_embeddings",)).patch_embeddings


def pixel_boxes(boxes, patch):
    return [(y0 * patch, y1 * patch, x0 * patch, x1 * patch) for y0, y1, x0, x1 in boxes]


@pytest.mark.parametrize("arch", VISION)
@pytest.mark.parametrize("lam_mode", ["batch", "row", "pair"])
def test_patch_cutmix_equals_patch_aligned_pixel_cutmix(arch, lam_mode):
    """The patch projection is a stride-p convolution: pasting whole patches of tokens is pasting the
    same pixels. So a plain forward on per-row hand-cut pixels is an oracle for the hooked forward."""
    model = tiny_vit(arch)
    batch = image_batch(b=7)
    cfg = MixConfig(method="patch_cutmix", alpha=1.0, lam_mode=lam_mode, seed=2)
    mixer, mb, logits, gen = mixed_logits(model, cfg, batch)
    assert torch.equal(mb.inputs["pixel_values"], batch["pixel_values"])  # pixels untouched: the hook mixes
    perm, lam, blend, boxes = reference_draws(cfg, mixer.methods, mb.method, mb.valid, GRID, gen)
    assert mb.perm.tolist() == perm and mb.boxes.tolist() == [list(bx) for bx in boxes]
    assert all(y1 <= GRID[0] and x1 <= GRID[1] for _, y1, _, x1 in boxes)
    # the label weight is exactly the share of kept patches
    kept = [1 - (y1 - y0) * (x1 - x0) / (GRID[0] * GRID[1]) for y0, y1, x0, x1 in boxes]
    assert mb.lam.tolist() == pytest.approx(kept, abs=1e-7) and mb.lam.tolist() == pytest.approx(lam, abs=1e-7)
    assert (mb.lam < 1).sum() >= 3
    pixels = reference_images(batch["pixel_values"], perm, blend, pixel_boxes(boxes, 3))
    with torch.no_grad():
        expected = model(pixel_values=pixels).logits
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", VISION)
@pytest.mark.parametrize("method", ["patch_mixup", "patch_cutmix", "patch_mixup:1,patch_cutmix:1"])
def test_patch_methods_match_hand_mixed_tokens(arch, method):
    """Two passes: record the patch tokens, then replay the forward with them mixed row by row."""
    model = tiny_vit(arch)
    batch = image_batch(b=8, seed=1)
    cfg = MixConfig(method=method, alpha=1.0, lam_mode="row", seed=3)
    mixer, mb, logits, gen = mixed_logits(model, cfg, batch)
    perm, lam, blend, boxes = reference_draws(cfg, mixer.methods, mb.method, mb.valid, GRID, gen)
    assert mb.lam.tolist() == pytest.approx(lam, abs=1e-7)
    module = patch_module(model)
    recorded = []
    handle = module.register_forward_hook(lambda m, a, out: recorded.append(out.detach().clone()))
    with torch.no_grad():
        model(pixel_values=batch["pixel_values"])
    handle.remove()
    mixed = reference_tokens(recorded[0], perm, blend, boxes, GRID)
    handle = module.register_forward_hook(lambda m, a, out: mixed)
    try:
        with torch.no_grad():
            expected = model(pixel_values=batch["pixel_values"]).logits
    finally:
        handle.remove()
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    if method == "patch_mixup":  # the same as the text oracle's hand Mixup of a module output
        oracle = replace_oracle(model, batch, module, mb.perm, mb.lam, union=False)
        torch.testing.assert_close(logits, oracle, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", VISION)
def test_cls_token_is_never_mixed_and_pasted_patches_keep_their_position(arch):
    """Mixing happens before [CLS] (and DeiT's distillation token) and the position embeddings join:
    the embedding output of a pasted patch is the partner's at the same grid position."""
    model = tiny_vit(arch)
    batch = image_batch(b=6, seed=2)
    embeddings = resolve(model, ARCHITECTURES[model.config.model_type]).embeddings
    outs = []
    handle = embeddings.register_forward_hook(lambda m, a, out: outs.append(out.detach()))
    try:
        with torch.no_grad():
            model(pixel_values=batch["pixel_values"])
        _, mb, _, _ = mixed_logits(model, MixConfig(method="patch_cutmix", alpha=1.0, lam_mode="row", seed=4), batch)
    finally:
        handle.remove()
    clean, mixed = outs
    specials = 2 if arch == "deit" else 1
    torch.testing.assert_close(mixed[:, :specials], clean[:, :specials], rtol=0, atol=0)
    for i in range(6):
        y0, y1, x0, x1 = mb.boxes[i].tolist()
        for t in range(GRID[0] * GRID[1]):
            r, c = divmod(t, GRID[1])
            src = int(mb.perm[i]) if (y0 <= r < y1 and x0 <= c < x1) else i
            torch.testing.assert_close(mixed[i, specials + t], clean[src, specials + t], rtol=1e-6, atol=1e-6)


def test_other_image_sizes_use_their_own_grid():
    model = tiny_vit("vit", image_size=12)  # transformers interpolates position embeddings of a square grid only
    batch = image_batch(b=5, size=(18, 24), seed=3)  # 6 x 8 patches, position embeddings interpolated
    cfg = MixConfig(method="patch_cutmix", alpha=1.0, lam_mode="row", seed=5)
    mixer = Mixer(model, cfg)
    with mixer:
        mb = mixer.mix(batch)
        logits = model(**mb.inputs, interpolate_pos_encoding=True).logits
    assert mb.boxes[:, 1].max() <= 6 and mb.boxes[:, 3].max() <= 8 and (mb.boxes[:, 3] > 6).any()
    assert torch.equal(mb.lam, ops.kept_fraction(mb.boxes, (6, 8)))
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("method", ["patch_mixup", "patch_cutmix", "mixup", "cutmix"])
def test_unmixed_is_bit_identical_and_gradients_reach_both_rows(method):
    model = tiny_vit("vit")
    batch = image_batch(b=6, seed=4)
    with torch.no_grad():
        plain = model(pixel_values=batch["pixel_values"]).logits
    _, mb, logits, _ = mixed_logits(model, MixConfig(method=method, prob=0.0), batch)
    assert not mb.mixed and torch.equal(logits, plain)
    mixer = Mixer(model, MixConfig(method=method, alpha=1.0, seed=1))
    x = batch["pixel_values"].clone().requires_grad_(True)
    with mixer:
        mb = mixer.mix({"pixel_values": x, "labels": batch["labels"]})
        mb.loss(model(**mb.inputs).logits).backward()
    assert (x.grad.flatten(1).abs().sum(1) > 0).all()


def test_hidden_and_pooled_mixup_work_on_vit_too():
    model = tiny_vit("vit")
    batch = image_batch(b=6, seed=5)
    arch = resolve(model, ARCHITECTURES["vit"])
    _, mb, logits, _ = mixed_logits(model, MixConfig(method="hidden", alpha=1.0, layers=[1], seed=1), batch)
    torch.testing.assert_close(logits, replace_oracle(model, batch, arch.layers[0], mb.perm, mb.lam, union=False),
                               rtol=1e-5, atol=1e-5)
    _, mb, logits, _ = mixed_logits(model, MixConfig(method="pooled", alpha=1.0, seed=1), batch)
    torch.testing.assert_close(logits, replace_oracle(model, batch, arch.head, mb.perm, mb.lam, pre=True, union=False),
                               rtol=1e-5, atol=1e-5)


def test_deit_with_teacher_gets_patch_methods():
    model = tiny_vit("deit", architectures=["DeiTForImageClassificationWithTeacher"])
    mixer = Mixer(model, MixConfig(method="patch_cutmix", alpha=1.0, seed=0))
    with mixer:
        mb = mixer.mix(image_batch(b=4))
        assert torch.isfinite(mb.loss(model(**mb.inputs).logits))
    with pytest.raises(ValueError, match="head module 'classifier' not found"):
        Mixer(model, MixConfig(method="pooled"))


def test_models_without_patch_tokens_get_a_clear_error():
    from conftest import tiny_model
    from transformers import ResNetConfig, ResNetForImageClassification

    for model in (tiny_model("bert"), ResNetForImageClassification(ResNetConfig(hidden_sizes=[8], depths=[1],
                                                                                 embedding_size=8))):
        with pytest.raises(ValueError, match="patch embedding.*arch=\\{'patch_embeddings'.*'mixup' and 'cutmix'"):
            Mixer(model, MixConfig(method="patch_cutmix"))
    resnet = model  # pixel methods need no module table
    batch = {"pixel_values": torch.randn(4, 3, 16, 24), "labels": torch.tensor([0, 1, 0, 1])}
    mixer = Mixer(resnet.train(), MixConfig(method="cutmix", alpha=1.0))
    mb = mixer.mix(batch)
    assert mb.mixed and torch.isfinite(mb.loss(resnet(**mb.inputs).logits))


def test_a_wrong_patch_module_is_named_at_the_forward():
    model = tiny_vit("vit")
    mixer = Mixer(model, MixConfig(method="patch_cutmix"), arch={"patch_embeddings": "vit.embeddings"})
    with mixer, pytest.raises(RuntimeError, match="grid of patches.*row-major"):
        mb = mixer.mix(image_batch(b=4))
        model(**mb.inputs)  # the embeddings module's output has the [CLS] token too: 21 tokens for 20 patches
    with pytest.raises(RuntimeError, match="inside `with mixer:`"):
        Mixer(model, MixConfig(method="patch_mixup")).mix(image_batch(b=4))


def test_bf16_autocast_and_hooks_are_removed():
    model = tiny_vit("vit")
    before = sum(len(m._forward_hooks) for m in model.modules())
    mixer = Mixer(model, MixConfig(method="patch_mixup:1,patch_cutmix:1", lam_mode="row", alpha=1.0, seed=0))
    with mixer, torch.autocast("cpu", dtype=torch.bfloat16):
        mb = mixer.mix(image_batch(b=6))
        loss = mb.loss(model(**mb.inputs).logits)
    loss.backward()
    assert torch.isfinite(loss) and sum(len(m._forward_hooks) for m in model.modules()) == before


@pytest.mark.parametrize("method", ["none", "mixup", "cutmix", "patch_mixup", "patch_cutmix",
                                    "mixup:1,cutmix:1", "patch_mixup:1,patch_cutmix:1"])
def test_mix_trainer_trains_image_models(tmp_path, method):
    from datasets import Dataset

    from textmix import MixTrainer, MixTrainingArguments

    g = torch.Generator().manual_seed(0)
    data = Dataset.from_dict({"pixel_values": torch.randn((32, 3, *SIZE), generator=g).numpy(),
                              "labels": torch.randint(0, 5, (32,), generator=g).tolist()}).with_format("torch")
    args = MixTrainingArguments(output_dir=str(tmp_path), mix_method=method, mix_alpha=1.0, mix_lam_mode="row",
                                max_steps=2, per_device_train_batch_size=8, report_to=[], use_cpu=True,
                                save_strategy="no", logging_steps=1, disable_tqdm=True)
    trainer = MixTrainer(model=tiny_vit("vit"), args=args, train_dataset=data)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in logs)
    assert all(h["mix_share"] == (0.0 if method == "none" else 1.0) for h in logs)
