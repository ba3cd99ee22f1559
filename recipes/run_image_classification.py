"""Image classification with mixing, for torchrun / accelerate launch: `textmix.harness.recipes.image`
(`--help` lists the arguments)."""

import sys

from textmix.harness.recipes.image import RECIPE

if __name__ == "__main__":
    sys.exit(RECIPE.cli())  # errors: one message (TEXTMIX_DEBUG=1 for the traceback)
