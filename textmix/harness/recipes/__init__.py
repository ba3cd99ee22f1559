"""Training recipes: `glue` (GLUE and other text classification), `image` (image classification).

Both write the same files (`results.json`, `predictions.npz`, `reliability.png`) through `common`.
"""
