"""Token classification (NER) with mixing: a launcher for `textmix.harness.recipes.ner` (its docstring
lists the data formats, the arguments and the files a run writes).

    python recipes/run_ner.py --train_file ../shared/data/wnut17/train.conll \
        --validation_file ../shared/data/wnut17/dev.conll --test_file ../shared/data/wnut17/test.conll \
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/wnut17-hidden
    python recipes/run_ner.py ... --compare none embedding hidden --output_dir out/wnut17   # a one-task sweep + report.md
    torchrun --nproc_per_node 2 recipes/run_ner.py ...      accelerate launch recipes/run_ner.py ...
"""

import sys

from textmix.harness.recipes.ner import cli

if __name__ == "__main__":
    sys.exit(cli())  # errors: one message (TEXTMIX_DEBUG=1 for the traceback)
