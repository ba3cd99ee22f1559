"""Training recipes, one `Recipe` subclass (`base`) per modality: `glue` (text classification), `image` (image
classification), `ner` (token classification); all write the same files (`textmix.harness.runfile`)."""
