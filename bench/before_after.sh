#!/usr/bin/env bash
# The hot-path benchmarks of a base revision and of this tree, alternated in one run, so that a
# change (a refactor) is judged by ratios on the same noisy machine in the same minutes:
#   rules throughput (events/s per CPU-second), agent CPU at 5,000 events/s (sensor_bench cpu),
#   response latency (freeze p50/p99).
#
#   bench/before_after.sh BASE_REV [ROUNDS]      (as root; ROUNDS defaults to 2)
#
# BASE_REV is checked out into a temporary worktree with its own venv; figures are printed per
# round as "base" and "head" lines and summarised at the end (medians).
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${1:?usage: bench/before_after.sh BASE_REV [ROUNDS]}
rounds=${2:-2}
head_dir=$(pwd)
work=$(mktemp -d /tmp/vigil-before-after.XXXXXX)
trap 'git -C "$head_dir" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "==> base $(git rev-parse --short "$base_rev") in $work/base"
git worktree add -q --detach "$work/base" "$base_rev"
python3 -m venv "$work/base/.venv"
"$work/base/.venv/bin/pip" install -q -e "$work/base" >/dev/null 2>&1

results="$work/figures.tsv"
run_one() {  # which dir
    local which=$1 dir=$2 out
    out=$("$dir/.venv/bin/python" "$dir/bench/rules_throughput.py" --seconds 5 2>&1)
    printf '%s\trules_events_per_cpu_s\t%s\n' "$which" \
        "$(grep -o 'throughput: [0-9,]*' <<<"$out" | tr -dc 0-9)" | tee -a "$results"
    out=$("$dir/.venv/bin/python" "$dir/bench/sensor_bench.py" cpu --scale 0.5 2>&1)
    printf '%s\tcpu_5k_steady_pct\t%s\n' "$which" \
        "$(grep -o '^cpu_5k_events: [0-9.]*' <<<"$out" | awk '{print $2}')" | tee -a "$results"
    printf '%s\tcpu_5k_unfiltered_pct\t%s\n' "$which" \
        "$(grep -o '^cpu_5k_events_unfiltered: [0-9.]*' <<<"$out" | awk '{print $2}')" \
        | tee -a "$results"
    "$dir/.venv/bin/python" "$dir/bench/response_latency.py" --only freeze --runs 100 \
        --json "$work/latency-$which.json" >/dev/null 2>&1
    "$dir/.venv/bin/python" - "$work/latency-$which.json" "$which" <<'EOF' | tee -a "$results"
import json, sys
freeze = json.load(open(sys.argv[1]))["freeze"]
print(f"{sys.argv[2]}\tfreeze_p50_ms\t{freeze['p50_ms']}")
print(f"{sys.argv[2]}\tfreeze_p99_ms\t{freeze['p99_ms']}")
EOF
}

for round in $(seq "$rounds"); do
    echo "==> round $round of $rounds"
    if [ $((round % 2)) -eq 1 ]; then
        run_one base "$work/base"; run_one head "$head_dir"
    else
        run_one head "$head_dir"; run_one base "$work/base"
    fi
done

echo "==> medians (head / base)"
python3 - "$results" <<'EOF'
import statistics, sys
from collections import defaultdict
figures = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    which, name, value = line.rstrip("\n").split("\t")
    if value:
        figures[name][which].append(float(value))
for name, by in figures.items():
    base, head = statistics.median(by["base"]), statistics.median(by["head"])
    print(f"{name:26} base {base:12.3f}  head {head:12.3f}  head/base {head / base:6.3f}")
EOF
