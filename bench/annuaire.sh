#!/usr/bin/env bash
# Benchmark of the local Annuaire Santé index (issue 6, ECO.3.1.4): generates a national-size
# extraction file, times `mssante annuaire import`, reports the index size and the search latency
# p50/p99 per query class, then runs the same import with Python's sqlite3 + FTS5 for comparison.
# Usage: bench/annuaire.sh [ROWS]    (default 600000; the real file has about 536,000 lines)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-600000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TIMEFORMAT="wall %Rs user %Us sys %Ss"
# Peak memory of the import when GNU time is installed (Debian package "time").
rss=""
[ -x /usr/bin/time ] && rss="/usr/bin/time -f peak_rss_kb=%M"

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
go build -o "$work/mssante" ./cmd/mssante
go build -o "$work/annuairebench" ./bench/annuairebench

echo "== generate $rows rows"
"$work/annuairebench" gen -rows "$rows" -seed 1 -o "$work/Extraction_Correspondance_MSSante.txt"
ls -l "$work/Extraction_Correspondance_MSSante.txt" | awk '{printf "extraction file: %.1f MB\n", $5/1e6}'

echo "== Go: mssante annuaire import"
time $rss "$work/mssante" annuaire import -q "$work/Extraction_Correspondance_MSSante.txt" --data-dir "$work/go" >"$work/go.json"
cat "$work/go.json"
ls -l "$work/go/annuaire.db" | awk '{printf "index size: %.1f MB\n", $5/1e6}'

echo "== Go: search latency (best-effort: wall clock includes waiting for a core)"
"$work/annuairebench" latency -index "$work/go/annuaire.db" -n 400

echo "== Python: bench/annuaire_import.py (same schema and bulk-load settings, then naive bm25 searches)"
time $rss python3 bench/annuaire_import.py "$work/Extraction_Correspondance_MSSante.txt" "$work/py.db"
echo "== Python with FTS5 default merge settings"
time PY_FTS_TUNED=0 PY_SKIP_SEARCH=1 python3 bench/annuaire_import.py "$work/Extraction_Correspondance_MSSante.txt" "$work/py0.db"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
