# shellcheck shell=bash
# Shared helpers for brigade's scripts (sourced, not run).
#
#   brigade_root       absolute path of the checkout
#   say MSG            a progress line on stderr, prefixed with the script's name
#   die MSG            an error line on stderr, then exit 1
#   step NAME CMD...   runs CMD; on failure says which step failed and exits with its status
#   build_jobs         the -j to use: $BRIGADE_JOBS, else the number of cores
#   require_tool T MSG dies with MSG unless T is on PATH

# shellcheck disable=SC2034  # used by the scripts that source this file
brigade_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
script_name="$(basename "$0")"

say() { printf '%s: %s\n' "$script_name" "$*" >&2; }
die() { printf '%s: error: %s\n' "$script_name" "$*" >&2; exit 1; }

step() {
  local name=$1; shift
  say "$name"
  local status=0
  "$@" || status=$?
  if ((status != 0)); then
    printf '%s: error: step "%s" failed (exit status %d): %s\n' \
      "$script_name" "$name" "$status" "$*" >&2
    exit "$status"
  fi
}

# Build parallelism, checked here (not in a $(...) subshell, where die could not stop the script).
if [[ -n "${BRIGADE_JOBS:-}" ]]; then
  [[ "$BRIGADE_JOBS" =~ ^[1-9][0-9]*$ ]] || die "BRIGADE_JOBS must be a positive integer, not '$BRIGADE_JOBS'"
  build_jobs=$BRIGADE_JOBS
else
  build_jobs=$(nproc 2>/dev/null || echo 2)
fi

require_tool() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not on PATH even after scripts/bootstrap; $2"
}
