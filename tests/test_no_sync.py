"""`Mixer.mix` reads nothing back from the device, for every method: on CPU, with the device paths
forced (`reads_are_free` patched to False) and every way of reading a tensor on the host made to fail.

This is the CPU stand-in for the GPU check (benchmarks/gpu_check.py runs mix() under CUDA's sync
debug mode "error"): a host read inside mix() would stall an accelerator's queue every step.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from conftest import SPECIAL, ragged_batch, tiny_model

from textmix import MixConfig, Mixer, sampling
from textmix.methods import method_names

HOST_READS = ("item", "tolist", "numpy", "nonzero", "__bool__", "__int__", "__float__", "__index__")


@contextlib.contextmanager
def no_host_reads(monkeypatch):
    def forbidden(name):
        def read(*args, **kwargs):
            raise AssertionError(f"Tensor.{name}() inside mix(): a host-device synchronisation on an accelerator")
        return read

    with monkeypatch.context() as m:
        for name in HOST_READS:
            m.setattr(torch.Tensor, name, forbidden(name))
        yield


@pytest.mark.parametrize("method", method_names())
@pytest.mark.parametrize("lam_mode", ["batch", "row"])
def test_mix_never_reads_a_tensor_on_the_host(method, lam_mode, monkeypatch):
    monkeypatch.setattr(sampling, "reads_are_free", lambda device: False)
    cfg = MixConfig(method=method, alpha=1.0, lam_mode=lam_mode, layers=[1], seed=0)
    if method in method_names(modality="image"):
        from transformers import ViTConfig, ViTForImageClassification

        model = ViTForImageClassification(ViTConfig(image_size=8, patch_size=2, num_channels=3, hidden_size=16,
                                                    num_hidden_layers=2, num_attention_heads=2,
                                                    intermediate_size=16, num_labels=3)).train()
        g = torch.Generator().manual_seed(0)
        batch = {"pixel_values": torch.rand((6, 3, 8, 8), generator=g), "labels": torch.tensor([0, 1, 2, 0, 1, 2])}
    else:
        model = tiny_model("bert")
        batch = ragged_batch(b=6, length=12, seed=1)
    mixer = Mixer(model, cfg, special_token_ids=list(SPECIAL.values()))
    with mixer:
        for _ in range(2):  # the second step runs with every generator already created
            if mixer.next_needs_saliency:
                clean = mixer.clean(batch)
                clean.loss(model(**clean.inputs).logits).backward()
            assert mixer.next_method == method  # the plan comes from the CPU generator: drawn before
            with no_host_reads(monkeypatch):
                mb = mixer.mix(batch)
            assert mb.method == method
    assert (mb.lam < 1).any()


@pytest.mark.parametrize("method", ["embedding", "hidden", "pooled", "span"])
def test_decoder_pooling_positions_need_no_host_read(method, monkeypatch):
    from test_decoders import decoder_batch, tiny_decoder

    monkeypatch.setattr(sampling, "reads_are_free", lambda device: False)
    model = tiny_decoder("llama")
    batch = decoder_batch("right", seed=0)
    mixer = Mixer(model, MixConfig(method=method, alpha=1.0, layers=[1], seed=0), special_token_ids=[0, 1, 2])
    with mixer:
        _ = mixer.next_method
        with no_host_reads(monkeypatch):
            mb = mixer.mix(batch)
        model(**mb.inputs)  # the hooks use what mix() prepared
    assert (mb.lam < 1).any()


def test_span_on_whole_words_needs_no_host_read(monkeypatch):
    from test_token_classification import tagged_batch, tiny_tagger

    monkeypatch.setattr(sampling, "reads_are_free", lambda device: False)
    mixer = Mixer(tiny_tagger(), MixConfig(method="span", alpha=1.0, lam_mode="row", seed=0),
                  special_token_ids=list(SPECIAL.values()))
    batch = tagged_batch(b=8, length=16, seed=0)
    _ = mixer.next_method
    with no_host_reads(monkeypatch):
        mb = mixer.mix(batch)
    assert (mb.lam < 1).any()
