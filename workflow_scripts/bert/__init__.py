"""The BERT half of the homework: models per role, hidden-state PCA, 蘋果 similarity, exBERT
probes."""
