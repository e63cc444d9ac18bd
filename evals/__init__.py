"""Evals: measure how well, how consistently and how robustly the graders grade."""
