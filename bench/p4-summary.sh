#!/usr/bin/env bash
# Pools the per-run tables of several P4 result files and prints medians over the *quiet* runs only:
# a run counts as quiet when the machine-wide busy CPU-seconds during it were within SLACK (default
# 1.0) of the lowest seen for that variant, i.e. nobody else used the shared cores meanwhile.
#
#   bench/p4-summary.sh bench/results/p4-*.txt
#
# Result files without the cpu-s column (older format) are skipped.
set -euo pipefail
SLACK=${SLACK:-1.0}
[ $# -gt 0 ] || { echo "usage: $0 bench/results/p4-*.txt" >&2; exit 2; }

rows=$(for f in "$@"; do
    grep -q 'cpu-s  steal' "$f" || { echo "skipping $f (no cpu-s column)" >&2; continue; }
    # "  ROUND  VARIANT  SECONDS  BYTES  CPU  STEAL  load..." rows of counted rounds (not warm-up "w")
    awk -v f="$(basename "$f")" '/^  [0-9]+ +[a-z0-9-]+ +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+ / { print f, $1, $2, $3, $5 }' "$f"
done)
[ -n "$rows" ] || { echo "no rows" >&2; exit 1; }

echo "$rows" | awk -v slack="$SLACK" '
    { file[NR] = $1; v[NR] = $3; wall[NR] = $4; cpu[NR] = $5
      if (!($3 in mn) || $5 < mn[$3]) mn[$3] = $5; total[$3]++ }
    END {
        for (i = 1; i <= NR; i++) if (cpu[i] <= mn[v[i]] + slack) { k = v[i]; q[k] = q[k] " " wall[i]; n[k]++ }
        printf "quiet runs (busy CPU-s within %.1f of the variant minimum), pooled from the files given:\n", slack
        nv = split("ours ours-nice0 bare-openssl bare-openssl-fsync bare-nice10 bare-sha256sum", order, " ")
        for (j = 1; j <= nv; j++) {
            k = order[j]; if (!(k in q)) continue
            m = split(substr(q[k], 2), a, " ")
            # sort numerically
            for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
            med[k] = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
            s = ""; for (x = 1; x <= m; x++) s = s " " a[x]
            printf "  %-19s median %6.3f s  of %d quiet / %d runs  (min CPU %.1f s):%s\n", k, med[k], m, total[k], mn[k], s
        }
        if (("ours" in med) && ("bare-openssl" in med)) {
            printf "ratios of quiet medians:\n"
            printf "  ours / bare-openssl        = %.3f\n", med["ours"] / med["bare-openssl"]
            if ("ours-nice0" in med) printf "  ours-nice0 / bare-openssl  = %.3f\n", med["ours-nice0"] / med["bare-openssl"]
            if ("bare-openssl-fsync" in med) printf "  ours / bare-openssl-fsync  = %.3f\n", med["ours"] / med["bare-openssl-fsync"]
            if ("bare-sha256sum" in med) printf "  ours / bare-sha256sum      = %.3f\n", med["ours"] / med["bare-sha256sum"]
            if ("bare-nice10" in med) printf "  bare-nice10 / bare-openssl = %.3f\n", med["bare-nice10"] / med["bare-openssl"]
        }
    }'
