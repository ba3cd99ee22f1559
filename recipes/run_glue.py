"""GLUE / text classification with mixing; see `textmix.recipes.glue` for the arguments.

    python recipes/run_glue.py --task_name sst2 --glue_dir ../shared/data/glue \
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/sst2
    torchrun --nproc_per_node 2 recipes/run_glue.py ...      accelerate launch recipes/run_glue.py ...
"""

from textmix.recipes.glue import main

if __name__ == "__main__":
    main()
