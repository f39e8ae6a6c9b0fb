"""Benchmarks: `make bench` (python -m bench). Ratios against baselines run in the same
process and the same run, absolute figures for context; results go to docs/performance.md."""
