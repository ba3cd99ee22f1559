"""bf16 autocast (CPU): the step equals the fp32 step with the same draws within bf16's precision — loss and
label weights to 2e-2, all gradients within 5 % of their norm — and targets and loss stay fp32."""

from __future__ import annotations

import torch
from conftest import ragged_batch, tiny_model

from compat.matrix import compat_cells
from compat.steps import IMAGE, TEXT, assert_same_step, images, mixer_for, tiny_vit, train_step

RTOL, ATOL, GRAD_RTOL = 2e-2, 2e-2, 5e-2


@compat_cells("bf16 autocast", TEXT + IMAGE,
              note="`torch.autocast(\"cpu\", dtype=torch.bfloat16)` around the forwards and losses, on BERT and "
                   "ViT: the same draws and mixed inputs as the fp32 step, loss and label weights within 2e-2, "
                   "all gradients within 5 % of their norm; targets and loss are fp32.")
def test_bf16_autocast_equals_the_fp32_step(method):
    make = tiny_vit if method in IMAGE else tiny_model
    batch = images() if method in IMAGE else ragged_batch(b=6, seed=1)
    steps = []
    for dtype in (None, torch.bfloat16):
        model = make()
        with mixer_for(model, method, seed=3) as mixer:
            steps.append(train_step(model, mixer, batch, autocast=dtype))
    assert steps[1].logits_dtype == torch.bfloat16 and steps[0].logits_dtype == torch.float32
    assert_same_step(steps[1], steps[0], RTOL, ATOL, grad_norm_rtol=GRAD_RTOL)
