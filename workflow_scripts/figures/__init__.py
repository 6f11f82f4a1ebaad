"""Figures rendered from cached artifacts (matplotlib, Agg)."""
