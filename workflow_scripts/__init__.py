"""xai-pipeline: the logic behind the Snakemake rules (models, data, methods, figures, report).

Rules stay thin; every computation lives in a module of this package so that it can be
imported, tested and benchmarked without Snakemake.
"""
