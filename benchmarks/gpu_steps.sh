# Sourced by gpu_check.sh and gpu_train.sh (after they set OUT): the step log and the
# time-boxed runner both device scripts write their results with.
status=0
t0=$(date +%s)
step() { echo; echo "== $* (at $(( $(date +%s) - t0 )) s)" | tee -a "$OUT/log.txt"; }
# run LIMIT_S CMD...: one step, killed if it overruns its share of the command's time; its
# time and exit status go to $OUT/timings.txt, a failure into $status.
run() {
  local limit=$1; shift
  local start; start=$(date +%s)
  timeout "$limit" "$@" 2>&1 | tee -a "$OUT/log.txt"
  local rc=${PIPESTATUS[0]}
  echo "$(( $(date +%s) - start )) s  rc=$rc  $*" >> "$OUT/timings.txt"
  [ "$rc" -eq 124 ] && echo "TIMED OUT after $limit s: $*" | tee -a "$OUT/log.txt"
  [ "$rc" -eq 0 ] || status=$rc
  return "$rc"
}
