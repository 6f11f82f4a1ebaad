"""The quality stage's metrics: which explanation to trust.

metrics.py scores one attribution map (H x W) at a time: localisation against a ground-truth
mask, faithfulness by deleting/inserting pixels in relevance order, sanity by cascading
randomisation of the model (Adebayo et al. 2018) and agreement between methods. stats.py turns
per-image scores into seeded bootstrap confidence intervals. Every metric that Quantus 0.6.0 also
has is tested for equality with it (tests/test_quality_metrics.py); the README's "Quality
metrics" table gives each formula, reference and chance level.
"""
