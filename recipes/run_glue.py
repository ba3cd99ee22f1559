"""GLUE / text classification with mixing, for torchrun / accelerate launch: `textmix.harness.recipes.glue`
(`--help` lists the arguments)."""

import sys

from textmix.harness.recipes.glue import RECIPE

if __name__ == "__main__":
    sys.exit(RECIPE.cli())  # errors: one message (TEXTMIX_DEBUG=1 for the traceback)
