# Benchmarks. `make bench` runs every benchmark (criterion and the harness-less ones)
# and regenerates the tables of BENCHMARKS.md from their results; `make profile`
# counts the hot path's instructions under callgrind and adds them to the tables.

CARGO ?= cargo
PYTHON ?= python3

.PHONY: bench bench-tables profile

bench:
	$(PYTHON) benches/collect.py start
	$(CARGO) bench -p lightstep-benches
	$(PYTHON) benches/collect.py

# Rewrites the tables from the results already in target/criterion.
bench-tables:
	$(PYTHON) benches/collect.py

profile:
	bash benches/profile.sh
	$(PYTHON) benches/collect.py

# Releases, as the Go tracer has them:
#   make ver=X.Y.Z version   sets the version in Cargo.toml and Cargo.lock (the reported
#                            lightstep.tracer_version is taken from Cargo.toml at build
#                            time) and opens a CHANGELOG.md section for it;
#   make release_tag         tags vX.Y.Z once the tree is clean, the changelog has the
#                            section and the tests pass.
.PHONY: version release_tag

version:
	@test -n "$(ver)" || { echo "usage: make ver=X.Y.Z version" >&2; exit 2; }
	@echo "$(ver)" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$$' \
		|| { echo "not a version: $(ver)" >&2; exit 2; }
	sed -i -E '0,/^version = ".*"/s//version = "$(ver)"/' Cargo.toml
	awk -v v="$(ver)" 'found && /^version = / { print "version = \"" v "\""; found = 0; next } \
		{ found = ($$0 == "name = \"lightstep\"") } { print }' Cargo.lock > Cargo.lock.new
	mv Cargo.lock.new Cargo.lock
	grep -q '^## \[$(ver)\]' CHANGELOG.md \
		|| sed -i -E "s/^## \[Unreleased\]$$/## [Unreleased]\n\n## [$(ver)] - $$(date +%Y-%m-%d)/" CHANGELOG.md
	@echo "version $(ver): Cargo.toml, Cargo.lock and CHANGELOG.md updated"

release_tag:
	@test -z "$$(git status --porcelain)" || { echo "the work tree is not clean" >&2; exit 1; }
	@v=$$(sed -nE 's/^version = "(.*)"/\1/p' Cargo.toml | head -n 1); \
		grep -q "^## \[$$v\]" CHANGELOG.md || { echo "CHANGELOG.md has no section for $$v" >&2; exit 1; }; \
		$(CARGO) test --all-features && git tag -a "v$$v" -m "Release v$$v" && echo "tagged v$$v"
