#!/usr/bin/env bash
# JACK servers on the dummy driver (no sound card needed).
#
#   .ci/jackd.sh run CMD [ARG...]
#     Runs CMD with two servers of its own, under names no one else uses, and stops them
#     when CMD ends, fails or is interrupted (Ctrl-C).  A server already running (a
#     desktop's PipeWire JACK, a studio jackd) is never used or touched: CMD sees
#       JACK_DEFAULT_SERVER, MIXHOST_JACK_SERVER   the run's --no-realtime server
#       MIXHOST_JACK_SERVER_RT                     the run's realtime (-R) server, or empty when
#       MIXHOST_JACK_SERVER_RT_MISSING             ... the machine cannot grant realtime scheduling
#                                                  (why; with CI set that is an error instead)
#     `make test` runs pytest this way.
#
#   .ci/jackd.sh start | stop | status
#     One server under the default name, for trying `mixhost live` by hand.  `start` leaves a
#     server that is already running alone and writes the pid file only for a server it
#     started; `stop` stops only the server named in the pid file.
set -euo pipefail
PIDFILE="${MIXHOST_JACK_PIDFILE:-${TMPDIR:-/tmp}/mixhost-jackd.pid}"
RATE="${MIXHOST_JACK_RATE:-48000}"
PERIOD="${MIXHOST_JACK_PERIOD:-128}"
RT_PRIORITY="${MIXHOST_JACK_RT_PRIORITY:-70}"
export JACK_NO_START_SERVER=1   # neither probing nor CMD may start a server of its own

serving() { jack_lsp -s "$1" >/dev/null 2>&1; }   # a server answers under this name

# Start `jackd FLAGS -n NAME` in the background (in this shell, not a subshell: the server
# lives as long as this script); LAUNCHED is its pid once it answers.
launch() {
  local name="$1" log="$2"; shift 2
  command -v jackd >/dev/null || { echo "jackd is not installed (apt-get install jackd2)" >&2; return 1; }
  if serving "$name"; then echo "a JACK server named $name is running already" >&2; return 1; fi
  local deathsig=()   # the server dies with this script, even when it is killed outright
  setpriv --help 2>/dev/null | grep -q -- --pdeathsig && deathsig=(setpriv --pdeathsig TERM)
  "${deathsig[@]}" jackd "$@" -n "$name" -d dummy -r "$RATE" -p "$PERIOD" >"$log" 2>&1 &
  local pid=$!
  RUN_PIDS+=("$pid") RUN_NAMES+=("$name")   # stopped at exit, whether it came up or not
  for _ in $(seq 100); do
    if serving "$name"; then LAUNCHED="$pid"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  echo "jackd -n $name did not come up; see $log" >&2
  if grep -q "Too many servers" "$log"; then   # JACK2 serves at most 8 servers on a machine at once
    echo "JACK's registry holds 8 servers at once: \`pgrep -a jackd\` lists those running; a server that" >&2
    echo "died without stopping keeps its entry until, with no jackd running, /dev/shm/jack-shm-registry is removed" >&2
  fi
  return 1
}

# Does a thread of this process run under a realtime policy (FIFO or RR)?  jackd -R
# without the right to realtime scheduling says so in its log and runs on without it.
realtime() { ps -L -o cls= -p "$1" | grep -qE 'FF|RR'; }

gone() {  # wait up to $2 tenths of a second for pid $1 to end
  for _ in $(seq "$2"); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}

# Stop a server this script started: TERM, then KILL after 10 s.  A killed jackd leaves its
# entry in JACK's server registry, which holds 8 and frees an entry only when a server of the
# same name starts: start one under the name and stop it properly, so no entry is lost.
halt() {
  local pid="$1" name="$2"
  kill "$pid" 2>/dev/null || return 0
  gone "$pid" 100 && return 0
  kill -9 "$pid" 2>/dev/null || true
  gone "$pid" 50 || true
  jackd --no-realtime -n "$name" -d dummy -r "$RATE" -p "$PERIOD" >/dev/null 2>&1 &
  local again=$!
  for _ in $(seq 50); do serving "$name" && break; kill -0 "$again" 2>/dev/null || break; sleep 0.1; done
  kill "$again" 2>/dev/null || true
  gone "$again" 100 || kill -9 "$again" 2>/dev/null || true
}

run() {
  [ $# -gt 0 ] || { echo "usage: $0 run CMD [ARG...]" >&2; exit 2; }
  local base="mixhost-run-$$"
  RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/$base.XXXXXX")"
  RUN_PIDS=() RUN_NAMES=()
  trap 'for i in "${!RUN_PIDS[@]}"; do halt "${RUN_PIDS[$i]}" "${RUN_NAMES[$i]}"; done; rm -rf "$RUN_DIR"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  launch "$base" "$RUN_DIR/$base.log" --no-realtime || { cat "$RUN_DIR/$base.log" >&2; exit 1; }
  export JACK_DEFAULT_SERVER="$base" MIXHOST_JACK_SERVER="$base"
  export MIXHOST_JACK_SERVER_RT="" MIXHOST_JACK_SERVER_RT_MISSING=""
  launch "$base-rt" "$RUN_DIR/$base-rt.log" -R -P "$RT_PRIORITY" || { cat "$RUN_DIR/$base-rt.log" >&2; exit 1; }
  if realtime "$LAUNCHED"; then
    MIXHOST_JACK_SERVER_RT="$base-rt"
  else
    halt "$LAUNCHED" "$base-rt"
    MIXHOST_JACK_SERVER_RT_MISSING="this machine does not grant realtime scheduling (run as root, or give your user an rtprio limit, as the audio group in /etc/security/limits.d/ has)"
    if [ -n "${CI:-}" ]; then
      echo "error: $MIXHOST_JACK_SERVER_RT_MISSING: CI must test under a realtime JACK server" >&2
      exit 1
    fi
    echo "note: $MIXHOST_JACK_SERVER_RT_MISSING: the realtime-server tests are skipped" >&2
  fi
  echo "JACK servers for this run: $base (--no-realtime)${MIXHOST_JACK_SERVER_RT:+, $MIXHOST_JACK_SERVER_RT (-R -P $RT_PRIORITY)}" >&2
  local status=0
  "$@" || status=$?
  exit "$status"
}

ours() {  # the pid file names a live jackd (not a recycled pid)
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null || echo jackd)" = jackd ]
}
serving_default() { jack_lsp >/dev/null 2>&1; }

case "${1:-}" in
  run) shift; run "$@" ;;
  start)
    if ours; then echo "jackd already running (pid $(cat "$PIDFILE"), started by this script)"; exit 0; fi
    rm -f "$PIDFILE"
    command -v jackd >/dev/null || { echo "jackd is not installed (apt-get install jackd2)" >&2; exit 1; }
    if serving_default; then echo "a JACK server is already running: using it, and leaving it running"; exit 0; fi
    nohup jackd --no-realtime -d dummy -r "$RATE" -p "$PERIOD" >"${PIDFILE%.pid}.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
      if serving_default; then echo "$pid" >"$PIDFILE"; echo "jackd started (pid $pid)"; exit 0; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    echo "jackd did not come up; see ${PIDFILE%.pid}.log" >&2; exit 1 ;;
  stop)
    if ours; then kill "$(cat "$PIDFILE")"; sleep 0.3; echo "jackd stopped"
    else echo "no jackd started by this script: nothing to stop"; fi
    rm -f "$PIDFILE" ;;
  status)
    if ours; then echo "running (started by this script)"
    elif serving_default; then echo "running (not started by this script)"
    else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 run CMD [ARG...] | start | stop | status" >&2; exit 2 ;;
esac
