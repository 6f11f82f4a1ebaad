"""The quality stage's metrics: which explanation to trust.

metrics.py is the metric registry (each metric's function, direction, chance or reference row);
localisation.py scores one attribution map (H x W) against a ground-truth mask, faithfulness.py
deletes/inserts pixels in relevance order, randomisation.py holds the sanity cascade (Adebayo et
al. 2018) and the agreement between methods. The stage itself: plan.py (DAG time: images, jobs,
methods), scoring.py (torch: maps and rows), tables.py (CSV/npz files), summary.py (bootstrap CIs
from stats.py, paired differences, rankings). Every metric that Quantus 0.6.0 also has is tested
for equality with it (tests/test_quality_metrics.py); the the metric table of docs/quality.md gives
each formula, reference and chance level.
"""
