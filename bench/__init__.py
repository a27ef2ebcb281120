"""Load benchmarks (not tests): `python bench/run.py` or `make bench`."""
