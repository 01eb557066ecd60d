#!/usr/bin/env bash
# Start or stop a JACK server on the dummy driver (no sound card needed).
#   .ci/jackd.sh start | stop | status
set -euo pipefail
PIDFILE="${MIXHOST_JACK_PIDFILE:-${TMPDIR:-/tmp}/mixhost-jackd.pid}"
RATE="${MIXHOST_JACK_RATE:-48000}"
PERIOD="${MIXHOST_JACK_PERIOD:-128}"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    if running; then echo "jackd already running (pid $(cat "$PIDFILE"))"; exit 0; fi
    command -v jackd >/dev/null || { echo "jackd is not installed (apt-get install jackd2)" >&2; exit 1; }
    nohup jackd --no-realtime -d dummy -r "$RATE" -p "$PERIOD" >"${PIDFILE%.pid}.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 50); do
      if jack_lsp >/dev/null 2>&1; then echo "jackd started (pid $(cat "$PIDFILE"))"; exit 0; fi
      sleep 0.1
    done
    echo "jackd did not come up; see ${PIDFILE%.pid}.log" >&2; exit 1 ;;
  stop)
    if running; then kill "$(cat "$PIDFILE")"; sleep 0.3; fi
    rm -f "$PIDFILE"; echo "jackd stopped" ;;
  status)
    if running; then echo "running"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
