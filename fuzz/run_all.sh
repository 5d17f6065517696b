#!/usr/bin/env bash
# Runs every fuzz target (or those named after the options) for SECONDS each, JOBS at a
# time, from the committed seeds plus what earlier runs found in work/<target>, and
# prints one Markdown table row per target: executions, time, final coverage, result.
# Logs go to work/logs/<target>.log; a crash leaves its input in artifacts/<target>/.
#
#   fuzz/run_all.sh [-t SECONDS] [-j JOBS] [target ...]     (defaults: 600 s, 1 job)
#
# Build first (see docs/FUZZING.md):
#   RUSTC_BOOTSTRAP=1 cargo fuzz build -s none --codegen-units 16
set -euo pipefail
cd "$(dirname "$0")"
secs=600
jobs=1
while getopts "t:j:" opt; do
  case $opt in
    t) secs=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
mkdir -p work/logs

run_one() {
  local t=$1 secs=$2
  mkdir -p "work/$t" "artifacts/$t"
  local started=$SECONDS status=0
  RUSTC_BOOTSTRAP=1 cargo fuzz run -s none --codegen-units 16 "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"work/logs/$t.log" 2>&1 || status=$?
  local elapsed=$((SECONDS - started))
  local execs cov result
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "work/logs/$t.log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "work/logs/$t.log" | tail -1 | sed -E 's/cov: ([0-9]+) ft: ([0-9]+)/\1 \/ \2/')
  if [ "$status" -eq 0 ]; then
    result="no crash"
  else
    result="STOPPED (exit $status): $(grep -m1 -E 'panicked at|ERROR: libFuzzer|deadly signal' "work/logs/$t.log" || echo 'see log')"
  fi
  printf '| %s | %s | %s s | %s | %s |\n' "$t" "${execs:-?}" "$elapsed" "${cov:-?}" "$result"
}
export -f run_one

echo "| target | executions | time | coverage (cov / ft) | result |"
echo "|---|---|---|---|---|"
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$1" "$2"' _ {} "$secs"
