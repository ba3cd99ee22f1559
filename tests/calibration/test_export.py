"""The temperature folded into the head: the folded model's logits are the original's divided by T."""

from __future__ import annotations

import pytest
import torch
from conftest import ARCHS, ragged_batch, tiny_model
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

from textmix.calibration.export import CONFIG_KEY, HeadError, calibrated_model, final_linear, save_calibrated

T = 1.7


def logits_of(model, batch) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**{k: v for k, v in batch.items() if k != "labels"}).logits


def assert_folded(model, batch, temperature: float = T) -> torch.nn.Module:
    before = logits_of(model, batch)
    folded = calibrated_model(model, temperature)
    torch.testing.assert_close(logits_of(folded, batch), before / temperature, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits_of(model, batch), before, atol=0, rtol=0)  # the original is untouched
    assert getattr(folded.config, CONFIG_KEY)["temperature"] == pytest.approx(temperature)
    return folded


@pytest.mark.parametrize("model_type", ARCHS)
def test_every_encoder_family(model_type):
    model = tiny_model(model_type, num_labels=3)
    with torch.no_grad():  # a trained-looking head: a random, non-zero bias
        final_linear(model)[1].bias.normal_()
    assert_folded(model, ragged_batch())


def tiny_decoder(model_type: str):
    if model_type == "gpt2":
        kwargs = dict(n_layer=2, n_embd=32, n_head=2, n_positions=64)
    else:
        kwargs = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=1, max_position_embeddings=64, head_dim=16)
    config = AutoConfig.for_model(model_type, vocab_size=120, num_labels=3, pad_token_id=0, bos_token_id=1,
                                  eos_token_id=2, **kwargs)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(config)


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "gpt2"])
def test_a_decoder_classifier_without_bias(model_type):
    model = tiny_decoder(model_type)
    path, head = final_linear(model)
    assert path == "score" and head.bias is None
    assert_folded(model, ragged_batch())  # right-padded with pad_token_id 0: pooled at each row's last token


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_a_token_classifier(model_type):
    from conftest import ARCH_KWARGS

    config = AutoConfig.for_model(model_type, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=37, vocab_size=120, max_position_embeddings=64, num_labels=5,
                                  **ARCH_KWARGS[model_type])
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_config(config)
    assert final_linear(model)[0] == "classifier"
    assert_folded(model, ragged_batch())


def test_a_vit_image_classifier():
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(image_size=28, patch_size=7, num_channels=1, hidden_size=32,
                                                num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                                                num_labels=10))
    assert_folded(model, {"pixel_values": torch.randn(4, 1, 28, 28)})


def test_a_lora_model_is_merged_then_folded():
    peft = pytest.importorskip("peft")
    model = tiny_model("bert", num_labels=3)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["query", "value"]))
    with torch.no_grad():  # a trained adapter (B is zero at initialisation) and a trained copy of the head
        for name, p in wrapped.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                p.normal_(std=0.5)
    folded = assert_folded(wrapped, ragged_batch())
    assert not hasattr(folded, "peft_config") and type(folded).__name__ == "BertForSequenceClassification"


def test_saved_and_reloaded_with_plain_transformers(tmp_path):
    model, batch = tiny_model("bert"), ragged_batch()
    before = logits_of(model, batch)
    out = save_calibrated(model, T, tmp_path / "calibrated", check_inputs=batch)
    loaded = AutoModelForSequenceClassification.from_pretrained(out)
    torch.testing.assert_close(logits_of(loaded, batch), before / T, atol=1e-5, rtol=1e-5)
    assert getattr(loaded.config, CONFIG_KEY)["temperature"] == pytest.approx(T)
    assert getattr(loaded.config, CONFIG_KEY)["head"] == "classifier"


def test_a_head_that_is_not_a_final_linear_layer_is_refused_naming_the_class():
    from transformers import DeiTConfig, DeiTForImageClassificationWithTeacher

    teacher = DeiTForImageClassificationWithTeacher(DeiTConfig(
        image_size=28, patch_size=7, num_channels=1, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=48, num_labels=4))
    with pytest.raises(HeadError, match="DeiTForImageClassificationWithTeacher"):
        calibrated_model(teacher, T)

    model = tiny_model("bert")
    model.classifier = torch.nn.Sequential(torch.nn.Linear(32, 3), torch.nn.Tanh())
    with pytest.raises(HeadError, match="BertForSequenceClassification"):
        calibrated_model(model, T)

    shifted = tiny_model("bert")  # a linear layer, but something follows it: caught on the check inputs
    shifted.classifier.register_forward_hook(lambda module, args, output: output + 1.0)
    with pytest.raises(HeadError, match="BertForSequenceClassification.*follows the last linear layer"):
        calibrated_model(shifted, T, check_inputs=ragged_batch())


def test_a_bf16_model_passes_its_own_check():
    model, batch = tiny_model("bert").to(torch.bfloat16), ragged_batch()
    folded = calibrated_model(model, T, check_inputs=batch)
    assert folded.classifier.weight.dtype == torch.bfloat16


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperatures(bad):
    with pytest.raises(ValueError, match="temperature"):
        calibrated_model(tiny_model("bert"), bad)


def test_folding_twice_multiplies_the_temperatures_by_hand():
    """Head W, b -> W / 2, b / 2, then / 1.5: the logits are the original's over 3, recorded as temperature 3."""
    from textmix.calibration.export import fold_temperature

    model, batch = tiny_model("bert", num_labels=3), ragged_batch()
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    before, weight = logits_of(model, batch), model.classifier.weight.detach().clone()
    fold_temperature(model, 2.0, fitted_on="test")
    fold_temperature(model, 1.5)
    torch.testing.assert_close(model.classifier.bias.detach(), torch.tensor([0.5, -1.0, 2.0]) / 3.0)
    torch.testing.assert_close(model.classifier.weight.detach(), weight / 3.0)
    torch.testing.assert_close(logits_of(model, batch), before / 3.0, atol=1e-5, rtol=1e-5)
    record = getattr(model.config, CONFIG_KEY)
    assert record["temperature"] == pytest.approx(3.0) and record["head"] == "classifier"
    assert record["fitted_on"] == "validation"


def test_a_grey_model_takes_rgb_images_with_the_grey_logits():
    """`rgb_input`: an RGB image with R = G = B gives the grey image's logits (the oracle: the model before,
    on the grey image); a colour image those of its channel mean; the processor copy gives RGB."""
    from types import SimpleNamespace

    from transformers import ViTConfig, ViTForImageClassification

    from textmix.calibration.export import rgb_input

    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(image_size=12, patch_size=3, num_channels=1, hidden_size=16,
                                                num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                                num_labels=3)).eval()
    grey, colour = torch.randn(4, 1, 12, 12), torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        expected_grey = model(pixel_values=grey).logits
        expected_colour = model(pixel_values=colour.mean(1, keepdim=True)).logits
    processor = SimpleNamespace(image_mean=[0.1307], image_std=[0.3081], do_convert_rgb=False)
    wide, rgb = rgb_input(model, processor, {"pixel_values": grey})
    assert wide.config.num_channels == 3 and rgb.image_mean == [0.1307] * 3 and rgb.image_std == [0.3081] * 3
    assert rgb.do_convert_rgb and processor.image_mean == [0.1307]  # a copy: the final model's stays grey
    with torch.no_grad():
        torch.testing.assert_close(wide(pixel_values=grey.expand(-1, 3, -1, -1)).logits, expected_grey,
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(wide(pixel_values=colour).logits, expected_colour, atol=1e-5, rtol=1e-5)
    with pytest.raises(HeadError, match="does not take 1-channel images"):
        rgb_input(wide)  # already RGB
