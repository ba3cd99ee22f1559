"""Pixel Mixup and CutMix (textmix.image and the Mixer's pixel methods) against per-row references."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from image_oracles import reference_box, reference_draws, reference_images, reference_pairs, reference_targets

from textmix import MixConfig, Mixer
from textmix import image as ops
from textmix.sampling import pair_partners

CPU = torch.device("cpu")


def image_batch(b=7, c=3, h=12, w=10, num_labels=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((b, c, h, w), generator=g)  # continuous values: no pixel of one image equals another's
    y = torch.randint(0, num_labels, (b,), generator=g)
    return {"pixel_values": x, "labels": y}


def first_mix(cfg, batch, num_labels=5, **kw):
    """One mix() of a fresh model-free mixer, and a generator in the state its draws started from."""
    mixer = Mixer(None, cfg, num_labels=num_labels, **kw)
    gen = torch.Generator().manual_seed(cfg.seed + kw.get("seed_offset", 0) + 1)
    mb = mixer.mix(batch)
    return mixer, mb, gen


# ---------------------------------------------------------------- pure functions


@settings(max_examples=60, deadline=None)
@given(valid=st.lists(st.booleans(), min_size=1, max_size=12), seed=st.integers(0, 2**16),
       mode=st.sampled_from(["flip", "permute"]))
def test_pair_partners_match_the_per_row_pairing(valid, seed, mode):
    v = torch.tensor(valid)
    g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    perm = pair_partners(v, mode, g1).tolist()
    u = torch.rand(len(valid), generator=g2).tolist() if mode == "permute" else None
    assert perm == reference_pairs(valid, mode, u)
    assert all(perm[perm[i]] == i for i in range(len(valid)))  # an involution: every row is its partner's partner
    unpaired = [i for i in range(len(valid)) if perm[i] == i and valid[i]]
    assert len(unpaired) == sum(valid) % 2
    assert torch.equal(g1.get_state(), g2.get_state())


@settings(max_examples=300, deadline=None)
@given(lam=st.floats(0.0, 1.0), u=st.lists(st.floats(0.0, 0.999999), min_size=4, max_size=4),
       h=st.integers(1, 40), w=st.integers(1, 40),
       minmax=st.one_of(st.none(), st.tuples(st.floats(0.01, 1.0), st.floats(0.01, 1.0)).map(sorted)))
def test_box_position_matches_the_per_row_reference(lam, u, h, w, minmax):
    lam_t = torch.tensor([lam], dtype=torch.float32)
    box = ops.boxes_from_uniforms(lam_t, torch.tensor([u], dtype=torch.float64), (h, w), minmax)[0].tolist()
    assert tuple(box) == reference_box(float(lam_t), u, (h, w), minmax)
    y0, y1, x0, x1 = box
    assert 0 <= y0 <= y1 <= h and 0 <= x0 <= x1 <= w
    if minmax is not None:  # wholly inside, sides within [lo, hi] of the image side
        assert int(h * minmax[0]) <= y1 - y0 <= h * minmax[1] + 1e-9 and int(w * minmax[0]) <= x1 - x0 <= w * minmax[1] + 1e-9


def test_box_before_clipping_covers_one_minus_lambda():
    lam = torch.linspace(0.0, 1.0, 101)
    h, w = ops.cut_sides(lam, (224, 224))
    area = (h * w).double() / 224**2
    assert (area - (1 - lam.double())).abs().max() < 0.01


def test_box_centres_are_uniform_over_the_image():
    g = torch.Generator().manual_seed(0)
    lam = torch.full((20000,), 0.99)  # small boxes: the centre shows
    boxes = ops.sample_boxes(lam, (10, 10), g)
    cy = (boxes[:, 0] + boxes[:, 1]) // 2
    counts = torch.bincount(cy, minlength=10).double()
    assert (counts / 20000 - 0.1).abs().max() < 0.015


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), h=st.integers(1, 9), w=st.integers(1, 9))
def test_kept_fraction_and_mask_count_cells(seed, h, w):
    g = torch.Generator().manual_seed(seed)
    boxes = ops.sample_boxes(torch.rand(6, generator=g), (h, w), g)
    mask = ops.box_mask(boxes, (h, w))
    for i in range(6):
        y0, y1, x0, x1 = boxes[i].tolist()
        inside = [[y0 <= r < y1 and x0 <= c < x1 for c in range(w)] for r in range(h)]
        assert mask[i].tolist() == inside
        assert float(ops.kept_fraction(boxes, (h, w))[i]) == pytest.approx(1 - sum(map(sum, inside)) / (h * w))


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("inplace", [False, True])
def test_mix_images_matches_the_per_row_reference(masked, inplace):
    g = torch.Generator().manual_seed(1)
    x = torch.randn((9, 3, 8, 11), generator=g)
    perm = torch.randperm(9, generator=g)
    blend = torch.where(torch.rand(9, generator=g) < 0.5, torch.rand(9, generator=g), torch.ones(9))
    boxes = ops.sample_boxes(torch.rand(9, generator=g), (8, 11), g)
    boxes = torch.where((blend == 1)[:, None], boxes, torch.zeros_like(boxes))  # a row blends or pastes
    expected = reference_images(x, perm.tolist(), blend.tolist(), boxes.tolist())
    before = x.clone()
    out = ops.mix_images(x, perm, blend, boxes, inplace=inplace, masked=masked)
    assert torch.equal(out, expected)
    assert (out is x) == inplace
    assert torch.equal(x, expected if inplace else before)


@pytest.mark.parametrize("masked", [False, True])
def test_in_place_pairs_swap_boxes_correctly(masked):
    """A pair pasting the same box into each other must read both boxes before writing (timm's x_orig clone)."""
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    expected = reference_images(x, [1, 0], [1.0, 1.0], [(0, 2, 0, 2), (0, 2, 0, 2)])
    ops.mix_images(x, torch.tensor([1, 0]), torch.ones(2), torch.tensor([[0, 2, 0, 2], [0, 2, 0, 2]]),
                   inplace=True, masked=masked)
    assert torch.equal(x, expected)


def test_cutmix_copies_any_dtype_and_mixup_needs_floats():
    x = torch.randint(0, 255, (4, 1, 6, 6), dtype=torch.uint8)
    boxes = torch.tensor([[0, 3, 0, 3]] * 4)
    out = ops.mix_images(x, torch.tensor([1, 0, 3, 2]), torch.ones(4), boxes)
    assert out.dtype == torch.uint8 and torch.equal(out[0, :, :3, :3], x[1, :, :3, :3])
    with pytest.raises(TypeError, match="floating-point pixel_values.*x.float"):
        ops.mix_images(x, torch.tensor([1, 0, 3, 2]), torch.full((4,), 0.5), torch.zeros((4, 4), dtype=torch.long))


# ---------------------------------------------------------------- the Mixer on pixels, every option against the reference

OPTIONS = [
    dict(method="mixup"),
    dict(method="cutmix"),
    dict(method="cutmix", cutmix_alpha=0.3),
    dict(method="cutmix", correct_lam=False),
    dict(method="cutmix", cutmix_minmax=[0.2, 0.8]),
    dict(method="mixup:1,cutmix:1"),
    dict(method="mixup:1,cutmix:3", prob_per_row=True, prob=0.6),
    dict(method="mixup:1,cutmix:1", lam_at_least_half=True),
    dict(method="cutmix", label_smoothing=0.1),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("lam_mode", ["batch", "row", "pair"])
@pytest.mark.parametrize("partner", ["flip", "permute"])
@pytest.mark.parametrize("b", [7, 8])
def test_every_option_matches_the_per_row_reference(options, lam_mode, partner, b):
    cfg = MixConfig(alpha=1.0, lam_mode=lam_mode, partner=partner, seed=b, **options)
    batch = image_batch(b=b, seed=b)
    batch["labels"][2] = -100  # an ignored row: nobody's partner, never mixed
    before = batch["pixel_values"].clone()
    mixer, mb, gen = first_mix(cfg, batch)
    for step in range(3):  # the generator carries on from call to call
        if step:
            gen.set_state(mixer.state_dict()["devices"]["cpu"])
            mb = mixer.mix(batch)
        perm, lam, blend, boxes = reference_draws(cfg, mixer.methods, mb.method, mb.valid, (12, 10), gen)
        assert mb.perm.tolist() == perm
        assert mb.boxes.tolist() == [list(bx) for bx in boxes]
        assert mb.lam.tolist() == pytest.approx(lam, abs=1e-6)
        assert torch.equal(mb.inputs["pixel_values"], reference_images(before, perm, blend, boxes))
        assert torch.equal(batch["pixel_values"], before)  # the caller's tensor is never written to
        valid = mb.valid.tolist()
        labels = torch.where(mb.valid, batch["labels"], 0)
        expected = reference_targets(labels, perm, lam, 5, cfg.label_smoothing)
        torch.testing.assert_close(mb.targets[mb.valid], expected[mb.valid], rtol=0, atol=1e-6)
        assert mb.lam[2] == 1 and mb.perm[2] == 2 and not any(perm[i] == 2 for i in range(b) if i != 2)
        # pixel fraction = label weight for every CutMix row whose weight is exact
        own = (mb.inputs["pixel_values"] == before).all(dim=1).double().mean(dim=(1, 2))
        for i in range(b):
            if ops.box_area(mb.boxes[i : i + 1]).item() and (cfg.correct_lam or cfg.cutmix_minmax):
                assert float(own[i]) == pytest.approx(float(mb.lam[i]), abs=1e-6)
            assert valid[i] or lam[i] == 1


@pytest.mark.parametrize("lam_mode", ["batch", "row", "pair"])
def test_modes_share_what_they_should(lam_mode):
    cfg = MixConfig(method="cutmix", alpha=1.0, lam_mode=lam_mode, partner="flip", seed=3)
    _, mb, _ = first_mix(cfg, image_batch(b=9, h=32, w=24))
    mixed = mb.lam < 1
    boxes = [tuple(bx) for bx in mb.boxes[mixed].tolist()]
    if lam_mode == "batch":  # one lambda and one box for the whole batch (timm's batch mode)
        assert len(set(boxes)) == 1 and mb.lam[mixed].unique().numel() == 1
    else:
        assert len(set(boxes)) > 3
    if lam_mode == "pair":  # a pair exchanges the same box, with the same weight
        for i in range(9):
            j = int(mb.perm[i])
            assert mb.perm[j] == i and mb.lam[i] == mb.lam[j] and mb.boxes[i].tolist() == mb.boxes[j].tolist()
    assert mb.perm.tolist() == list(range(8, -1, -1)) and mb.lam[4] == 1  # odd batch: the middle row stays


@pytest.mark.parametrize("lam_mode", ["row", "pair"])
def test_the_switch_is_drawn_per_row_with_the_method_weights(lam_mode):
    mixer = Mixer(None, MixConfig(method="mixup:1,cutmix:3", lam_mode=lam_mode, alpha=1.0, seed=0), num_labels=5)
    cut = total = 0
    for seed in range(40):
        mb = mixer.mix(image_batch(b=64, seed=seed))
        assert mb.method == "mixup+cutmix"
        rows = mb.lam < 1
        is_cut = ops.box_area(mb.boxes) > 0
        cut += int((is_cut & rows).sum())
        total += int(rows.sum())
    assert 0.70 < cut / total < 0.80


def test_the_switch_is_per_batch_in_batch_mode():
    mixer = Mixer(None, MixConfig(method="mixup:1,cutmix:1", alpha=1.0, seed=0), num_labels=5)
    seen = [mixer.mix(image_batch(b=8, seed=s)).method for s in range(200)]
    assert set(seen) == {"mixup", "cutmix"} and 0.4 < seen.count("cutmix") / 200 < 0.6


def test_prob_per_row_mixes_that_share_of_rows():
    mixer = Mixer(None, MixConfig(method="mixup", lam_mode="row", prob=0.3, prob_per_row=True, seed=0), num_labels=5)
    shares = [float((mixer.mix(image_batch(b=100, seed=s)).lam < 1).float().mean()) for s in range(20)]
    assert 0.25 < sum(shares) / 20 < 0.35


def test_uncorrected_lambda_is_the_drawn_one_and_differs_from_the_pixels():
    cfg = MixConfig(method="cutmix", alpha=1.0, lam_mode="row", correct_lam=False, seed=0)
    mb = Mixer(None, cfg, num_labels=5).mix(image_batch(b=64, h=16, w=20))
    exact = ops.kept_fraction(mb.boxes, (16, 20))
    assert ((mb.lam - exact).abs() > 0.02).sum() > 10  # clipped boxes: the label weight is off, as in timm


@pytest.mark.parametrize("b", [2, 3, 5])
def test_odd_and_small_batches(b):
    for lam_mode, partner in itertools.product(["batch", "row", "pair"], ["flip", "permute"]):
        cfg = MixConfig(method="mixup:1,cutmix:1", alpha=1.0, lam_mode=lam_mode, partner=partner, seed=1)
        mb = Mixer(None, cfg, num_labels=5).mix(image_batch(b=b))
        assert mb.inputs["pixel_values"].shape == (b, 3, 12, 10)
        assert ((mb.perm == torch.arange(b)) <= (mb.lam == 1)).all()
    one = Mixer(None, MixConfig(method="cutmix"), num_labels=5).mix(image_batch(b=1))
    assert not one.mixed and torch.equal(one.lam, torch.ones(1))


def test_in_place_is_opt_in_and_gives_the_same_images():
    batch = image_batch(b=8)
    x = batch["pixel_values"].clone()
    out = Mixer(None, MixConfig(method="mixup:1,cutmix:1", lam_mode="row", seed=4), num_labels=5).mix(batch)
    assert torch.equal(batch["pixel_values"], x)
    inplace = Mixer(None, MixConfig(method="mixup:1,cutmix:1", lam_mode="row", seed=4, inplace=True),
                    num_labels=5).mix(batch)
    assert inplace.inputs["pixel_values"] is batch["pixel_values"]
    assert torch.equal(batch["pixel_values"], out.inputs["pixel_values"])


def test_one_hot_labels_give_the_classes_and_the_same_targets():
    batch = image_batch(b=8)
    cfg = MixConfig(method="mixup:1,cutmix:1", lam_mode="row", label_smoothing=0.1, seed=2)
    ints = Mixer(None, cfg, num_labels=5).mix(batch)
    for one_hot in (torch.nn.functional.one_hot(batch["labels"], 5), torch.nn.functional.one_hot(batch["labels"], 5).float()):
        mb = Mixer(None, cfg).mix(dict(batch, labels=one_hot))  # no num_labels: the width of the one-hot labels
        assert torch.equal(mb.targets, ints.targets)
    with pytest.raises(ValueError, match="num_labels=N"):
        Mixer(None, cfg).mix(batch)


def test_multi_label_targets_mix_and_train_with_bce():
    g = torch.Generator().manual_seed(0)
    batch = {"pixel_values": torch.randn((6, 3, 8, 8), generator=g),
             "labels": (torch.rand((6, 4), generator=g) < 0.5).float()}
    mb = Mixer(None, MixConfig(method="cutmix", lam_mode="row", alpha=1.0, seed=1),
               problem_type="multi_label_classification").mix(batch)
    lam = mb.lam[:, None]
    torch.testing.assert_close(mb.targets, lam * batch["labels"] + (1 - lam) * batch["labels"][mb.perm])
    logits = torch.randn((6, 4), generator=g)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, mb.targets)
    torch.testing.assert_close(mb.loss(logits), expected)


def test_in_a_collate_function():
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(torch.randn(20, 1, 8, 8), torch.randint(0, 3, (20,)))
    mixer = Mixer(None, MixConfig(method="cutmix", alpha=1.0, seed=0), num_labels=3)

    def collate(rows):
        mb = mixer.mix({"pixel_values": torch.stack([r[0] for r in rows]), "labels": torch.stack([r[1] for r in rows])})
        return {"pixel_values": mb.inputs["pixel_values"], "labels": mb.targets}

    batches = list(DataLoader(data, batch_size=8, collate_fn=collate))
    assert [b["labels"].shape for b in batches] == [(8, 3), (8, 3), (4, 3)]
    torch.testing.assert_close(batches[0]["labels"].sum(1), torch.ones(8))


def test_draws_are_reproducible_and_resumable():
    cfg = MixConfig(method="mixup:1,cutmix:1", lam_mode="pair", seed=5)
    batch = image_batch(b=8)

    def run(mixer, n):
        return [(mb.method, mb.perm.tolist(), mb.lam.tolist(), mb.boxes.tolist()) for mb in (mixer.mix(batch) for _ in range(n))]

    a = run(Mixer(None, cfg, num_labels=5), 8)
    first = Mixer(None, cfg, num_labels=5)
    head = run(first, 3)
    resumed = Mixer(None, cfg, num_labels=5)
    resumed.load_state_dict(first.state_dict())
    assert head + run(resumed, 5) == a


def test_eval_mode_and_prob_zero_leave_pixels_alone():
    from transformers import ViTConfig, ViTForImageClassification

    model = ViTForImageClassification(ViTConfig(image_size=8, patch_size=4, num_channels=3, hidden_size=16,
                                                 num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                                 num_labels=5)).eval()
    batch = image_batch(b=4, h=8, w=8)
    mb = Mixer(model, MixConfig(method="cutmix")).mix(batch)
    assert not mb.mixed and mb.inputs["pixel_values"] is batch["pixel_values"]
    mb = Mixer(None, MixConfig(method="mixup", prob=0.0), num_labels=5).mix(batch)
    assert not mb.mixed and torch.equal(mb.inputs["pixel_values"], batch["pixel_values"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cutmix_alpha": 0.0}, "cutmix_alpha must be"),
        ({"cutmix_minmax": [0.5]}, "cutmix_minmax must be two fractions"),
        ({"cutmix_minmax": [0.8, 0.2]}, "cutmix_minmax must be two fractions"),
        ({"lam_mode": "elem"}, "timm's mode='elem' is lam_mode='row'"),
    ],
)
def test_bad_image_options_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixConfig(method="cutmix", **kwargs)


def test_bad_batches_say_what_to_change():
    mixer = Mixer(None, MixConfig(method="cutmix"), num_labels=5)
    with pytest.raises(ValueError, match="needs `pixel_values` of shape"):
        mixer.mix({"input_ids": torch.zeros((4, 3), dtype=torch.long), "labels": torch.zeros(4, dtype=torch.long)})
    with pytest.raises(ValueError, match="needs `pixel_values` of shape.*\\(4, 8, 8\\)"):
        mixer.mix({"pixel_values": torch.zeros((4, 8, 8)), "labels": torch.zeros(4, dtype=torch.long)})
    with pytest.raises(ValueError, match="pass the model"):
        Mixer(None, MixConfig(method="patch_cutmix"), num_labels=5)


def test_config_parses_the_image_fields_from_the_command_line():
    from transformers import HfArgumentParser

    (cfg,) = HfArgumentParser(MixConfig).parse_args_into_dataclasses(
        ["--method", "mixup:1,cutmix:1", "--cutmix_alpha", "1.0", "--cutmix_minmax", "0.2", "0.8", "--lam_mode",
         "pair", "--prob_per_row", "--correct_lam", "false"]
    )
    assert cfg.cutmix_minmax == [0.2, 0.8] and cfg.lam_mode == "pair" and cfg.prob_per_row and not cfg.correct_lam
