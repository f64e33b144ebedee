# pair NAME A_LABEL B_LABEL A_COMMAND... -- B_COMMAND...
# Runs two benchmark commands AT ONCE, A on core 0 and B on core 1 (taskset), so both halves of a pair
# see the same machine and the same noise; logs go to runs/pairs/NAME.A_LABEL.log and NAME.B_LABEL.log.
# Callers export NLP_APPS_THREADS=1 (one torch thread per process) and compare the rows of one pair only.
pair() {
  local name=$1 a_label=$2 b_label=$3; shift 3
  local a=() b=()
  while [ "$1" != "--" ]; do a+=("$1"); shift; done; shift
  b=("$@")
  mkdir -p runs/pairs
  echo "== $name: $(date -u +%H:%M) $a_label on core 0, $b_label on core 1"
  taskset -c 0 "${a[@]}" > "runs/pairs/$name.$a_label.log" 2>&1 &
  local first=$!
  taskset -c 1 "${b[@]}" > "runs/pairs/$name.$b_label.log" 2>&1 &
  local second=$!
  wait $first; wait $second
  tail -n 2 "runs/pairs/$name.$a_label.log" "runs/pairs/$name.$b_label.log"
}
