#!/usr/bin/env bash
# Profiles the caller's hot path (start, two tags, finish) under callgrind, for ours and
# the peers: instructions per span (deterministic, so comparable even on a busy machine),
# and callgrind's inclusive annotation of each. Run by `make profile`; afterwards
# `python3 benches/collect.py` adds the instruction counts to BENCHMARKS.md.
#
# Environment: N (spans per run, default 50000), PROFILE_DIR (default target/profile).
set -euo pipefail
cd "$(dirname "$0")/.."

n=${N:-50000}
out=${PROFILE_DIR:-target/profile}
extra=${CRITERION_HOME:-${CARGO_TARGET_DIR:-target}/criterion}/lightstep-extra
mkdir -p "$out" "$extra"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no -- src Cargo.toml 2>/dev/null)" ]; then
    commit="$commit (with uncommitted changes)"
fi

# Symbols and line tables, in a target directory of its own so the benchmarks' build
# is not invalidated.
build=$(CARGO_TARGET_DIR="$out/build" CARGO_PROFILE_BENCH_DEBUG=line-tables-only \
    cargo bench -p lightstep-benches --bench profile_hot_path --no-run 2>&1 | tee "$out/build.log" |
    sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -n 1)
if [ -z "$build" ]; then
    echo "profile: could not build benches/profile_hot_path.rs (see $out/build.log)" >&2
    exit 1
fi

for mode in builder nested macro noop otel fastrace; do
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$mode" \
        --toggle-collect='*profiled_*' "$build" "$n" "$mode" 2>"$out/valgrind.$mode.log"
    total=$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$out/callgrind.$mode" | head -n 1)
    callgrind_annotate --inclusive=yes "$out/callgrind.$mode" >"$out/annotate.$mode.txt" 2>/dev/null || true
    python3 - "$extra/instructions_$mode.json" "$total" "$n" "$commit" <<'EOF'
import json, sys
path, total, spans, commit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path, "w") as f:
    json.dump({"instructions": total, "spans": spans, "commit": commit,
               "instructions_per_span": total / spans}, f, indent=2)
EOF
    awk -v mode="$mode" -v total="$total" -v n="$n" \
        'BEGIN { printf "profile: %-8s %6.0f instructions per span\n", mode, total / n }'
done
echo "profile: annotations in $out/annotate.<mode>.txt"
