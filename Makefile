# mixhost: the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
export MIXHOST_PLUGIN_DIR ?= $(HOME)/.cache/mixhost/test-plugins
# The browser tests drive Debian's chromium; Playwright never downloads a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

# iproute2: `ip` sets up the private network namespace (`unshare -n`) of the zeroconf test;
# chromium: the browser mixer's tests (Playwright drives it); liblo-tools: oscsend/oscdump, an
# independent OSC peer; ffmpeg: an independent loudness meter and codecs for the batch tests
APT_PACKAGES := jackd2 libsndfile1 libportaudio2 build-essential pkg-config xz-utils espeak-ng iproute2 chromium liblo-tools ffmpeg
# What the installed commands use at run time: `live --audio jack` needs libjack (and a server
# to play to), `--audio sounddevice` PortAudio.
RUNTIME_PACKAGES := jackd2 libsndfile1 libportaudio2
# The quick start's venv runs every command in the README: `live` (JACK, PortAudio, MIDI) and the
# `--html` reports (matplotlib), `live --osc` (zeroconf) and `live --web` (aiohttp, segno).
# `pip install mixhost` stays slim; these are its extras.
EXTRAS := live,plots,osc,web

.PHONY: demo test bench lint typecheck venv install install-test system-deps runtime-deps plugins jack-start jack-stop clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[$(EXTRAS)]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install runtime-deps
	$(PY) examples/demo/make_stems.py
	$(VENV)/bin/mixhost render examples/demo/session.yaml

# System packages the tests use (a JACK server, a compiler for the plugins).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Only the run-time system packages, for the quick start (no compiler).
runtime-deps:
	@$(MAKE) --no-print-directory system-deps APT_PACKAGES="$(RUNTIME_PACKAGES)"

# Real third-party VST3 plugins (DISTRHO 3BandEQ, MVerb, Kars), built once into a cache.
plugins: system-deps
	bash .ci/build-plugins.sh "$(MIXHOST_PLUGIN_DIR)"

jack-start: system-deps
	bash .ci/jackd.sh start

jack-stop:
	bash .ci/jackd.sh stop

# The tests run with JACK servers of their own (one --no-realtime, one realtime where the
# machine allows it), under names no one else uses, stopped when pytest ends, fails or is
# interrupted; a server already running (a desktop's, a studio's) is never used or touched.
# The JACK tests run a second time, in a process of their own, on the realtime server
# (libjack serves one server per process: see tests/conftest.py).
test: install-test system-deps plugins
	bash .ci/jackd.sh run sh -c '$(PY) -m pytest $(PYTEST_ARGS) && MIXHOST_JACK_KIND=realtime $(PY) -m pytest -q tests/test_live_jack.py'

lint: install-test
	$(VENV)/bin/ruff check host tests scripts benchmarks examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# bench_live starts a private server of each kind for each period it measures (a server
# idling beside the other benchmarks would only add noise); `BENCH_ARGS="--only live"` runs
# only the live rows.
bench: install-test system-deps plugins
	JACK_NO_START_SERVER=1 $(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) examples/demo/stems examples/demo/out benchmarks/out .pytest_cache .mypy_cache .ruff_cache
