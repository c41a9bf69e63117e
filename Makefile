# Benchmarks. `make bench` runs every benchmark (criterion and the harness-less ones)
# and regenerates the tables of BENCHMARKS.md from their results; `make profile`
# counts the hot path's instructions under callgrind and adds them to the tables.

CARGO ?= cargo
PYTHON ?= python3

.PHONY: bench bench-tables profile

bench:
	$(PYTHON) benches/collect.py start
	$(CARGO) bench
	$(PYTHON) benches/collect.py

# Rewrites the tables from the results already in target/criterion.
bench-tables:
	$(PYTHON) benches/collect.py

profile:
	bash benches/profile.sh
	$(PYTHON) benches/collect.py
