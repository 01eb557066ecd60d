#!/usr/bin/env bash
# Start or stop a JACK server on the dummy driver (no sound card needed).
#   .ci/jackd.sh start | stop | status
# `start` leaves a server that is already running alone and writes the pid file only
# for a server it started; `stop` stops only the server named in the pid file, so a
# run never stops a server someone else started.  Give each run its own pid file
# (MIXHOST_JACK_PIDFILE) to pair its start and stop.
set -euo pipefail
PIDFILE="${MIXHOST_JACK_PIDFILE:-${TMPDIR:-/tmp}/mixhost-jackd.pid}"
RATE="${MIXHOST_JACK_RATE:-48000}"
PERIOD="${MIXHOST_JACK_PERIOD:-128}"
export JACK_NO_START_SERVER=1   # probing with jack_lsp must not start a server itself

ours() {  # the pid file names a live jackd (not a recycled pid)
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null || echo jackd)" = jackd ]
}
serving() { jack_lsp >/dev/null 2>&1; }

case "${1:-}" in
  start)
    if ours; then echo "jackd already running (pid $(cat "$PIDFILE"), started by this script)"; exit 0; fi
    rm -f "$PIDFILE"
    command -v jackd >/dev/null || { echo "jackd is not installed (apt-get install jackd2)" >&2; exit 1; }
    if serving; then echo "a JACK server is already running: using it, and leaving it running"; exit 0; fi
    nohup jackd --no-realtime -d dummy -r "$RATE" -p "$PERIOD" >"${PIDFILE%.pid}.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
      if serving; then echo "$pid" >"$PIDFILE"; echo "jackd started (pid $pid)"; exit 0; fi
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
    elif serving; then echo "running (not started by this script)"
    else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
