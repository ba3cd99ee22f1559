"""GLUE / text classification with mixing: a launcher for `textmix.harness.recipes.glue` (its docstring
lists the arguments and the files a run writes).

    python recipes/run_glue.py --task_name sst2 --glue_dir ../shared/data/glue \
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/sst2
    torchrun --nproc_per_node 2 recipes/run_glue.py ...      accelerate launch recipes/run_glue.py ...
"""

import sys

from textmix.harness.recipes.glue import cli

if __name__ == "__main__":
    sys.exit(cli())  # errors: one message (TEXTMIX_DEBUG=1 for the traceback)
