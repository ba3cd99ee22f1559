"""Fine-tune BERT-tiny on an SST-2 subset with and without mixing; compare accuracy and calibration.

    python examples/sst2_mixtrainer.py [--glue_dir ../shared/data/glue] [--model ../shared/models/bert-tiny]
                                       [--methods none hidden span] [--train_samples 4000] [--output_dir out/sst2]

Prints accuracy and ECE (before and after temperature scaling) per method and writes one reliability
diagram with every method overlaid to OUTPUT_DIR/reliability.png. Offline, point --glue_dir at a
folder in the layout of GLUE's download script and --model at a local model folder (the defaults are
in `textmix.harness.paths.shared_dir()`: $TEXTMIX_SHARED, else `shared` beside the checkout, else ../shared).
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np
import torch
from datasets import load_dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, set_seed

from textmix import MixTrainer, MixTrainingArguments
from textmix.calibration import classification_metrics, reliability_overlay, temperature_scaling_report
from textmix.harness.paths import shared_dir

SHARED = shared_dir()  # $TEXTMIX_SHARED, else the `shared` folder beside the checkout, else ../shared


def main(argv: list[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train and compare each method; returns {method: (test logits, test labels)}."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue_dir", default=os.environ.get("GLUE_DIR", str(SHARED / "data/glue")))
    parser.add_argument("--model", default=str(SHARED / "models/bert-tiny"))
    parser.add_argument("--methods", nargs="+", default=["none", "hidden", "span"])
    parser.add_argument("--train_samples", type=int, default=4000)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--output_dir", default="out/sst2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    files = {split: str(Path(args.glue_dir) / "SST-2" / f"{split}.tsv") for split in ("train", "dev")}
    data = load_dataset("csv", data_files=files, delimiter="\t", quoting=csv.QUOTE_NONE)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    data = data.map(lambda b: tokenizer(b["sentence"], truncation=True, max_length=64), batched=True)
    train = data["train"].shuffle(seed=args.seed).select(range(args.train_samples + 500))
    train, validation = train.select(range(args.train_samples)), train.select(range(args.train_samples, len(train)))

    curves, rows = {}, []
    for method in args.methods:
        set_seed(args.seed)  # before the model: its new head is drawn now, the same for every method and run
        model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2)
        training_args = MixTrainingArguments(
            output_dir=f"{args.output_dir}/{method}", mix_method=method, mix_alpha=0.4, num_train_epochs=args.epochs,
            per_device_train_batch_size=32, per_device_eval_batch_size=128, learning_rate=1e-4, seed=args.seed,
            save_strategy="no", report_to=[], logging_steps=50, dataloader_pin_memory=torch.cuda.is_available(),
        )
        trainer = MixTrainer(model=model, args=training_args, train_dataset=train, eval_dataset=data["dev"],
                             processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
                             compute_metrics=classification_metrics())
        trainer.train()
        val = trainer.predict(validation)
        test = trainer.predict(data["dev"])
        scaled = temperature_scaling_report(val.predictions, val.label_ids, test.predictions, test.label_ids)
        curves[method] = (test.predictions, test.label_ids)
        rows.append((method, test.metrics["test_accuracy"], scaled["before"]["ece"], scaled["after"]["ece"],
                     scaled["temperature"]))
    print("\n| method | accuracy | ECE | ECE after temperature scaling | T |\n|---|---|---|---|---|")
    for method, acc, ece, ece_t, temp in rows:
        print(f"| {method} | {acc:.4f} | {ece:.4f} | {ece_t:.4f} | {temp:.3f} |")
    path = Path(args.output_dir) / "reliability.png"
    reliability_overlay({m: (np.asarray(p), np.asarray(y)) for m, (p, y) in curves.items()}, str(path),
                        title=f"SST-2 dev, {Path(args.model).name}")
    print(f"reliability diagram: {path}")
    return curves


if __name__ == "__main__":
    main()
