"""GLUE / text classification with mixing: a launcher for `textmix.harness.recipes.glue` (its docstring
lists the arguments and the files a run writes).

    python recipes/run_glue.py --task_name sst2 --glue_dir ../shared/data/glue \
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/sst2
    torchrun --nproc_per_node 2 recipes/run_glue.py ...      accelerate launch recipes/run_glue.py ...
"""

from textmix.harness.recipes.glue import main

if __name__ == "__main__":
    main()
