"""The recipes' data, read and split under one set of contracts (`contracts`): text (`glue`, `tables`, `text`),
token tags (`tokens`) and images (`images`). Nothing here imports the recipes."""

import csv

csv.field_size_limit(2**31 - 1)  # long text fields (csv's default limit is 128 KiB)
