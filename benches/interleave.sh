#!/usr/bin/env bash
# Interleaved before/after runs of the latency report, to tell a change from this machine's drift:
#   benches/interleave.sh BEFORE_BINARY AFTER_BINARY [PAIRS]
# Each binary is a built `examples/latency` (e.g. from `git worktree add /tmp/before <rev>` and
# `cargo build --release --example latency` there). Prints, per run, the busy-spin round trip p50
# and p99.9, the floor p50 and the fire-and-forget rate, then the medians of each side over the
# pairs whose two runs had the same floor, and their ratios. A binary
# that reports the vault as used (`full_*` keys: both mirrors on, latency recording on) is
# measured by those; an older one, which has no such keys, by its plain busy-spin rows.
set -euo pipefail
before=$1 after=$2 pairs=${3:-5}
for pair in $(seq "$pairs"); do
  # Alternate which side runs first (ABBA), so a drift within a pair favours neither.
  order="before after"
  [ $((pair % 2)) -eq 0 ] && order="after before"
  for side in $order; do
    binary=$before
    [ "$side" = after ] && binary=$after
    "$binary" --quick 2>/dev/null | tail -n 1 | python3 -c "
import json, sys
d = json.loads(sys.stdin.read())
full = 'full_roundtrip_p50_ns' in d
p50, p999 = (d['full_roundtrip_p50_ns'], d['full_roundtrip_p999_ns']) if full else (d['roundtrip_p50_ns'], d['roundtrip_p999_ns'])
rate = d['full_throughput_cmds_per_s'] if full else d['throughput_cmds_per_s']
print('$side', p50, p999, d['floor_p50_ns'], round(rate))"
  done
done | tee /dev/stderr | python3 -c "
import statistics, sys
rows = [line.split() for line in sys.stdin]
# A pair is kept only if both runs met the same machine: this machine's cross-core floor moves
# between about 60 and 400 ns as its virtual CPUs are placed, and a pair whose floors differ by
# more than 10% compares two placements, not two builds.
pairs = [tuple(sorted((rows[i], rows[i + 1]), key=lambda row: row[0] != 'before')) for i in range(0, len(rows) - 1, 2)]
kept = [p for p in pairs if abs(float(p[0][3]) - float(p[1][3])) <= 0.1 * float(p[0][3])]
print(f'pairs kept (same floor within 10%): {len(kept)} of {len(pairs)}')
medians = {}
for index, side in enumerate(('before', 'after')):
    mine = [[float(x) for x in pair[index][1:]] for pair in kept]
    if not mine:
        sys.exit('no pair ran on one placement: run more pairs')
    p50, p999, floor, rate = (statistics.median(c) for c in zip(*mine))
    medians[side] = (p50, p999, rate)
    print(f'{side}: median p50 {p50:.0f} ns, p99.9 {p999:.0f} ns, floor {floor:.0f} ns, fire-and-forget {rate / 1e6:.2f} M/s')
(b50, b999, brate), (a50, a999, arate) = medians['before'], medians['after']
print(f'after / before: p50 {a50 / b50:.2f}, p99.9 {a999 / b999:.2f}, fire-and-forget {arate / brate:.2f}')
"
