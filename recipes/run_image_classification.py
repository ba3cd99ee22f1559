"""Image classification with Mixup / CutMix: a launcher for `textmix.harness.recipes.image` (its docstring
lists the arguments and the files a run writes).

    python recipes/run_image_classification.py --quick --output_dir out/vision_quick
    python recipes/run_image_classification.py --npz_path ../shared/data/mnist/mnist.npz --mix_method cutmix \
        --output_dir out/run ...
    torchrun --nproc_per_node 2 recipes/run_image_classification.py ...   accelerate launch recipes/... ...
"""

import sys

from textmix.harness.recipes.image import cli

if __name__ == "__main__":
    sys.exit(cli())  # errors: one message (TEXTMIX_DEBUG=1 for the traceback)
