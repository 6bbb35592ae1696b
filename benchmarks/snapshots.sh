# Sourced by the study scripts (change_study.sh, recipe_study.sh): keeps a copy of a training
# run's latest.pt each time it is rewritten, so every checkpoint of a run can be scored later.
#
#   follow RUN PID   while PID lives, every 30 s: RUN/checkpoints/latest.pt, if it changed,
#                    copied to RUN/snapshots/step_NNNNNN.pt (NNNNNN: the step it holds);
#                    once more after PID ends (the final checkpoint, written as the run
#                    ended), then waits for PID and returns its status.

follow() {
  local run=$1 pid=$2 last=""
  while kill -0 "$pid" 2>/dev/null; do sleep 30; snapshot_once "$run"; done
  snapshot_once "$run"
  wait "$pid"
}

snapshot_once() {  # RUN: one copy of latest.pt if it changed since follow's last copy
  local f=$1/checkpoints/latest.pt tmp=$1/snapshots/.copy.pt stamp step
  [ -e "$f" ] || return 0
  stamp=$(stat -c %Y "$f")
  [ "$stamp" != "$last" ] || return 0
  # latest.pt is replaced by a rename, so the copy is one whole checkpoint; its step is read
  # from the copy itself (the log's last step can trail it by up to --log-every).
  mkdir -p "$1/snapshots" && cp "$f" "$tmp"
  step=$(python -c "import sys, torch
print(torch.load(sys.argv[1], map_location='cpu', weights_only=True)['step'])" "$tmp")
  mv "$tmp" "$1/snapshots/step_$(printf %06d "$step").pt"
  last=$stamp  # follow's: bash functions see their caller's locals
}
