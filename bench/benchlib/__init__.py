"""The benchmark suite's driver (bench/run.sh runs bench/bench.py)."""
