"""reflow's performance benchmarks: ``python -m benchmarks`` (see benchmarks/run.py)."""
