"""Trains a tiny model with MixTrainer for a few steps; run under `torchrun --nproc_per_node 2`.

Writes `lams_rank{R}.json` (the lambdas each rank drew) and the final loss log into argv[1].
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import tiny_model  # noqa: E402
from trainer_utils import pad_collate, ragged_dataset  # noqa: E402

from textmix import MixTrainer, MixTrainingArguments  # noqa: E402
from textmix.harness.recipes.common import shutdown_distributed  # noqa: E402


class RecordingTrainer(MixTrainer):
    lams: list = []

    def _record(self, batch):
        self.lams.append([round(float(x), 6) for x in batch.lam])
        super()._record(batch)


def main() -> None:
    out = Path(sys.argv[1])
    args = MixTrainingArguments(
        output_dir=str(out / "run"), use_cpu=True, report_to=[], save_strategy="no", logging_steps=1,
        max_steps=3, per_device_train_batch_size=4, mix_method="embedding", mix_lam_mode="row", seed=0,
        disable_tqdm=True, ddp_backend="gloo", ddp_find_unused_parameters=False,
    )
    trainer = RecordingTrainer(model=tiny_model("bert"), args=args, train_dataset=ragged_dataset(32),
                               data_collator=pad_collate)
    trainer.train()
    rank = int(os.environ.get("RANK", 0))
    (out / f"lams_rank{rank}.json").write_text(json.dumps({
        "lams": trainer.lams, "world_size": args.world_size,
        "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
    }))
    del trainer  # the flake's cause: a live trainer (its DDP wrapper) keeps the gloo group alive past
    shutdown_distributed()  # destroy_process_group() and rank 0 aborted at exit; see shutdown_distributed


if __name__ == "__main__":
    main()
