"""The benchmark suite behind `python main.py bench`: each part prints medians and p95, and ratios."""
