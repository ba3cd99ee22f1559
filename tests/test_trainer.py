"""MixTrainer against the plain Trainer and against un-accumulated runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_model
from trainer_utils import pad_collate, ragged_dataset
from transformers import HfArgumentParser, Trainer, TrainerCallback, TrainingArguments

from textmix import MixTrainer, MixTrainingArguments

COMMON = dict(report_to=[], use_cpu=True, save_strategy="no", logging_steps=1, learning_rate=1e-3,
              dataloader_num_workers=0, seed=0, disable_tqdm=True)


def args(tmp_path, cls=MixTrainingArguments, **kw):
    return cls(output_dir=str(tmp_path), **{**COMMON, **kw})


def losses(trainer):
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def grad_norms(trainer):
    return [h["grad_norm"] for h in trainer.state.log_history if "grad_norm" in h]


def accuracy(pred):
    return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}


def test_cli_fields():
    (a,) = HfArgumentParser(MixTrainingArguments).parse_args_into_dataclasses(
        ["--output_dir", "x", "--mix_method", "span:2,hidden:1", "--mix_alpha", "0.2", "--mix_layers", "1", "2"]
    )
    assert a.mix_config().method_weights == pytest.approx({"span": 2 / 3, "hidden": 1 / 3})
    assert a.mix_layers == [1, 2] and a.mix_alpha == 0.2
    with pytest.raises(ValueError, match="alpha must be"):
        MixTrainingArguments(output_dir="x", mix_method="hidden", mix_alpha=0)


@pytest.mark.filterwarnings("error:Mixer.mix:UserWarning")  # MixTrainer never calls mix() in eval mode: no warning
def test_evaluation_is_bit_identical_to_the_plain_trainer(tmp_path):
    train, evals = ragged_dataset(48), ragged_dataset(40, seed=1)
    model = tiny_model("bert")
    trainer = MixTrainer(model=model, args=args(tmp_path, mix_method="hidden", mix_layers=[1], max_steps=3,
                                                   per_device_train_batch_size=8),
                         train_dataset=train, eval_dataset=evals, data_collator=pad_collate,
                         compute_metrics=accuracy)
    trainer.train()
    mixed = trainer.evaluate()
    plain = Trainer(model=model, args=args(tmp_path, TrainingArguments), eval_dataset=evals,
                    data_collator=pad_collate, compute_metrics=accuracy).evaluate()
    for key in ("eval_loss", "eval_accuracy"):
        assert mixed[key] == plain[key]
    p1 = trainer.predict(evals).predictions
    model.train()  # even a model left in train mode is not mixed by predict()
    p2 = Trainer(model=model, args=args(tmp_path, TrainingArguments), data_collator=pad_collate).predict(evals)
    assert np.array_equal(p1, p2.predictions)


def run(tmp_path, name, cls=MixTrainingArguments, trainer_cls=MixTrainer, model_kwargs=None, data=None, **kw):
    model = tiny_model("bert", **(model_kwargs or {}))
    extra = {"mixer_kwargs": {"special_token_ids": [0, 1, 2]}} if trainer_cls is MixTrainer else {}
    trainer = trainer_cls(model=model, args=args(tmp_path / name, cls, **kw), train_dataset=data or ragged_dataset(64),
                          data_collator=pad_collate, **extra)
    trainer.train()
    return trainer, model


def test_gradient_accumulation_is_exact_without_mixing(tmp_path):
    t16, m16 = run(tmp_path, "b16", max_steps=4, per_device_train_batch_size=16)
    t8, m8 = run(tmp_path, "b8", max_steps=4, per_device_train_batch_size=8, gradient_accumulation_steps=2)
    np.testing.assert_allclose(losses(t8), losses(t16), rtol=1e-5)
    np.testing.assert_allclose(grad_norms(t8), grad_norms(t16), rtol=1e-4)
    for a, b in zip(m8.parameters(), m16.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # the premise: the plain Trainer at GA=2 logs (and steps with) twice the loss
    p8, _ = run(tmp_path, "p8", TrainingArguments, Trainer, max_steps=1, per_device_train_batch_size=8,
                gradient_accumulation_steps=2)
    assert losses(p8)[0] == pytest.approx(2 * losses(t16)[0], rel=1e-4)


def test_gradient_accumulation_with_mixing_keeps_the_loss_scale(tmp_path):
    kw = dict(max_steps=6, mix_method="embedding", mix_alpha=0.4)
    t16, _ = run(tmp_path, "b16", per_device_train_batch_size=16, **kw)
    t8, _ = run(tmp_path, "b8", per_device_train_batch_size=8, gradient_accumulation_steps=2, **kw)
    ratio = np.mean(losses(t8)) / np.mean(losses(t16))
    assert 0.85 < ratio < 1.15, ratio


def test_gradient_accumulation_with_ignored_rows_is_exact(tmp_path):
    data = ragged_dataset(64).map(lambda row, i: {"label": -100 if i % 5 == 0 else row["label"]}, with_indices=True)
    t16, m16 = run(tmp_path, "b16", data=data, max_steps=2, per_device_train_batch_size=16)
    t8, m8 = run(tmp_path, "b8", data=data, max_steps=2, per_device_train_batch_size=8, gradient_accumulation_steps=2)
    np.testing.assert_allclose(losses(t8), losses(t16), rtol=1e-5)


def test_label_smoothing_is_applied_once(tmp_path):
    data = ragged_dataset(16)
    model = tiny_model("bert")
    batch = pad_collate([data[i] for i in range(16)])
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    expected = float(F.cross_entropy(logits, batch["labels"], label_smoothing=0.1))
    trainer = MixTrainer(model=model, args=args(tmp_path, max_steps=1, per_device_train_batch_size=16,
                                                label_smoothing_factor=0.1), train_dataset=data,
                         data_collator=pad_collate)
    trainer.train()
    assert losses(trainer)[0] == pytest.approx(expected, rel=1e-5)
    mixed, _ = run(tmp_path, "mixed", max_steps=2, per_device_train_batch_size=8, label_smoothing_factor=0.1,
                   mix_method="span:1,hidden:1", mix_layers=[1])
    assert np.isfinite(losses(mixed)).all()


def test_problem_type_never_changes_and_other_label_kinds_train(tmp_path):
    _, model = run(tmp_path, "cls", max_steps=2, per_device_train_batch_size=8, mix_method="hidden", mix_layers=[2])
    assert model.config.problem_type != "multi_label_classification"
    t, model = run(tmp_path, "reg", model_kwargs={"num_labels": 1}, data=ragged_dataset(32, regression=True),
                   max_steps=2, per_device_train_batch_size=8, mix_method="embedding")
    assert np.isfinite(losses(t)).all() and model.config.problem_type in (None, "regression")
    t, model = run(tmp_path, "multi", model_kwargs={"problem_type": "multi_label_classification"},
                   data=ragged_dataset(32, multi_label=True), max_steps=2, per_device_train_batch_size=8,
                   mix_method="pooled")
    assert np.isfinite(losses(t)).all()


def test_warns_when_no_row_was_mixed_for_three_logging_steps(tmp_path):
    with pytest.warns(UserWarning, match="no row was mixed in the last 3 logging steps") as record:
        run(tmp_path, "one-row", max_steps=5, per_device_train_batch_size=1, mix_method="pooled")
    assert sum("no row was mixed" in str(w.message) for w in record) == 1  # once per streak


@pytest.mark.filterwarnings("error:no row was mixed:UserWarning")
def test_no_unmixed_warning_when_rows_mix_or_chance_or_the_schedule_explains_it(tmp_path):
    quiet = [run(tmp_path, "mixed", max_steps=4, per_device_train_batch_size=4, mix_method="pooled"),
             run(tmp_path, "by-chance", max_steps=12, per_device_train_batch_size=4, mix_method="pooled", mix_prob=0.5),
             run(tmp_path, "off", max_steps=8, per_device_train_batch_size=8, mix_method="pooled", mix_off_epoch=0)]
    assert all(t.state.global_step for t, _ in quiet)


def test_schedules_and_logging(tmp_path):
    t, _ = run(tmp_path, "off", num_train_epochs=2, per_device_train_batch_size=16, mix_method="pooled",
               mix_off_epoch=1)
    logs = [h for h in t.state.log_history if "loss" in h]
    assert [h["mix_share"] for h in logs] == [1.0] * 4 + [0.0] * 4
    assert all(0 <= h["mix_lam_mean"] <= 1 for h in logs[:4]) and "mix_lam_mean" not in logs[5]
    t, _ = run(tmp_path, "multi", max_steps=40, per_device_train_batch_size=4, logging_steps=40,
               mix_method="span:1,pooled:1", mix_prob=0.5, data=ragged_dataset(160))
    log = next(h for h in t.state.log_history if "loss" in h)
    assert 0.25 <= log["mix_share"] <= 0.75
    with pytest.raises(ValueError, match="special tokens"):
        MixTrainer(model=tiny_model("bert"), args=args(tmp_path, mix_method="span"), train_dataset=ragged_dataset(8))
    assert log["mix_count_span"] + log["mix_count_pooled"] == round(log["mix_share"] * 40)


def test_saliency_span_trains_on_clean_and_mixed(tmp_path):
    model = tiny_model("bert")
    calls = []
    model.register_forward_pre_hook(lambda m, a: calls.append(1))
    trainer = MixTrainer(model=model, args=args(tmp_path, max_steps=2, per_device_train_batch_size=8,
                                                mix_method="saliency_span"),
                         train_dataset=ragged_dataset(32), data_collator=pad_collate,
                         mixer_kwargs={"special_token_ids": [0, 1, 2]})
    trainer.train()
    assert len(calls) == 4 and trainer.state.log_history[0]["mix_count_saliency_span"] == 1


def test_resume_continues_as_if_never_stopped(tmp_path):
    kw = dict(max_steps=6, per_device_train_batch_size=8, mix_method="hidden:1,embedding:1", mix_lam_mode="row",
              save_strategy="steps", save_steps=3, data_seed=0)
    full, m_full = run(tmp_path, "full", **kw)

    class Kill(TrainerCallback):  # the run dies right after step 3 (and its checkpoint)
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step >= 3

    killed = MixTrainer(model=tiny_model("bert"), args=args(tmp_path / "cut", **kw), train_dataset=ragged_dataset(64),
                        data_collator=pad_collate, callbacks=[Kill()])
    killed.train()
    assert losses(killed) == losses(full)[:3]
    model = tiny_model("bert", seed=123)  # weights come from the checkpoint
    resumed = MixTrainer(model=model, args=args(tmp_path / "cut", **kw), train_dataset=ragged_dataset(64),
                         data_collator=pad_collate)
    resumed.train(resume_from_checkpoint=True)
    np.testing.assert_allclose(losses(resumed)[-3:], losses(full)[-3:], rtol=1e-5)
    for a, b in zip(model.parameters(), m_full.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_resume_restores_weights_saved_under_legacy_names(tmp_path):
    """Pretrained BERT-tiny's LayerNorms are saved as gamma/beta; resume must restore them too."""
    from conftest import shared_path
    from transformers import AutoModelForSequenceClassification

    path = shared_path("models", "bert-tiny")

    def model():
        torch.manual_seed(0)  # the same new classifier head every time
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)

    kw = dict(max_steps=6, per_device_train_batch_size=8, save_strategy="steps", save_steps=2, learning_rate=1e-3)
    full = MixTrainer(model=(m_full := model()), args=args(tmp_path / "full", **kw), train_dataset=ragged_dataset(64),
                      data_collator=pad_collate)
    full.train()

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step >= 2

    MixTrainer(model=model(), args=args(tmp_path / "cut", **kw), train_dataset=ragged_dataset(64),
               data_collator=pad_collate, callbacks=[Kill()]).train()
    resumed = MixTrainer(model=(m_res := model()), args=args(tmp_path / "cut", **kw), train_dataset=ragged_dataset(64),
                         data_collator=pad_collate)
    resumed.train(resume_from_checkpoint=True)
    for (name, a), b in zip(m_full.named_parameters(), m_res.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_no_mixing_is_the_plain_trainer_bit_for_bit(tmp_path):
    t, m = run(tmp_path, "none", max_steps=3, per_device_train_batch_size=8, max_grad_norm=1.0)
    p, pm = run(tmp_path, "plain", TrainingArguments, Trainer, max_steps=3, per_device_train_batch_size=8,
                max_grad_norm=1.0)
    assert t.mixer is None  # 'none' means no mixer at all
    assert losses(t) == losses(p) and grad_norms(t) == grad_norms(p)
    for a, b in zip(m.parameters(), pm.parameters(), strict=True):
        assert torch.equal(a, b)


def test_mix_config_is_accepted_with_any_training_arguments(tmp_path):
    from textmix import MixConfig

    cfg = MixConfig(method="embedding", alpha=0.4, seed=3)
    trainer = MixTrainer(model=tiny_model("bert"), args=args(tmp_path / "cfg", TrainingArguments, max_steps=2,
                                                             per_device_train_batch_size=8),
                         train_dataset=ragged_dataset(64), data_collator=pad_collate, mix_config=cfg)
    trainer.train()
    assert trainer.mixer.config is cfg and trainer.state.log_history[0]["mix_count_embedding"] == 1
    same, _ = run(tmp_path, "args", max_steps=2, per_device_train_batch_size=8, mix_method="embedding",
                  mix_alpha=0.4, mix_seed=3)
    assert losses(trainer) == losses(same)
    with pytest.raises(ValueError, match="configured twice"):
        MixTrainer(model=tiny_model("bert"), args=args(tmp_path, mix_method="hidden"), mix_config=cfg)
    with pytest.raises(ValueError, match="label_smoothing_factor"):
        MixTrainer(model=tiny_model("bert"), args=args(tmp_path, TrainingArguments, label_smoothing_factor=0.1),
                   mix_config=cfg)
