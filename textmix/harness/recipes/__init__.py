"""Training recipes: `glue` (GLUE and other text classification), `image` (image classification),
`ner` (token classification: NER, POS).

All write the same files (`results.json`, `predictions.npz`, `reliability.png`) through `common`.
"""
