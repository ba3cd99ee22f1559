"""Token classification (NER) with mixing, for torchrun / accelerate launch: `textmix.harness.recipes.ner`
(`--help` lists the arguments)."""

import sys

from textmix.harness.recipes.ner import RECIPE

if __name__ == "__main__":
    sys.exit(RECIPE.cli())  # errors: one message (TEXTMIX_DEBUG=1 for the traceback)
