import torch

from textmix.masks import union_attention_mask, union_layer_mask


def test_union_attention_mask_only_for_mixed_rows():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]])
    perm = torch.tensor([1, 2, 0])
    mixed = torch.tensor([True, False, True])
    out = union_attention_mask(mask, perm, mixed)
    assert out.tolist() == [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 0]]


def test_pairwise_masks_use_the_outer_product_of_the_union():
    # non-nested rows (one left-, one right-padded): an element-wise OR of the outer products is wrong
    m = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1]])
    pairwise = (m[:, None, :, None] * m[:, None, None, :])
    perm = torch.tensor([1, 0])
    out = union_layer_mask(pairwise, perm, torch.tensor([True, True]), layout="pairwise")
    u = (m | m[perm])
    expected = u[:, None, :, None] * u[:, None, None, :]
    assert torch.equal(out, expected)
    assert not torch.equal(torch.maximum(pairwise, pairwise[perm]), expected)


def test_key_masks_bool_and_additive():
    keep = torch.tensor([[True, True, False], [True, False, False]])
    boolean = keep[:, None, None, :]
    additive = torch.where(boolean, 0.0, torch.finfo(torch.float32).min)
    perm, mixed = torch.tensor([1, 0]), torch.tensor([False, True])
    assert union_layer_mask(boolean, perm, mixed)[:, 0, 0].tolist() == [[True, True, False], [True, True, False]]
    out = union_layer_mask(additive, perm, mixed)
    assert torch.equal(out == 0, union_layer_mask(boolean, perm, mixed))
    assert union_layer_mask(None, perm, mixed) is None
