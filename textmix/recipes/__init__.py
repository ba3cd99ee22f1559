"""Training recipes: `textmix.recipes.glue` (GLUE and other text classification)."""
