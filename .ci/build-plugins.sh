#!/usr/bin/env bash
# Build the real third-party VST3 plugins the tests use (DISTRHO 3BandEQ,
# MVerb, Kars and CycleShifter from Debian's dpf-plugins source package) into
# DEST_DIR.  CycleShifter is mono-only (1 in / 1 out): the dual-mono tests use it.
# With the same DPF tree it also builds mixhost's own test plugins (source in
# .ci/plugins/): LatentDelay, a pure delay reporting its latency (no DISTRHO
# plugin reports any); SideGate, a gate opened by a stereo sidechain input (an
# auxiliary VST3 bus); BandSplit, stereo in, low and high bands on two stereo
# output buses.
#   .ci/build-plugins.sh DEST_DIR
# Incremental: builds only the bundles missing from DEST_DIR, and the local
# plugins whose source changed since they were built (a hash kept beside them);
# exits at once when nothing needs building.
# Any plugin missing at the end is a failure (non-zero exit), never a skip.
set -euo pipefail

DEST="${1:?usage: $0 DEST_DIR}"
LOCAL_PLUGINS=(LatentDelay SideGate BandSplit)
PLUGINS=(3BandEQ MVerb Kars CycleShifter "${LOCAL_PLUGINS[@]}")
LOCAL_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/plugins"
SRC_PACKAGE=dpf-plugins
ARCH_DIR="$(uname -m)-linux"

built() {
  [ -f "$DEST/$1.vst3/Contents/$ARCH_DIR/$1.so" ]
}

is_local() {
  local name
  for name in "${LOCAL_PLUGINS[@]}"; do
    [ "$name" = "$1" ] && return 0
  done
  return 1
}

# the hash of a local plugin's source files, so an edited plugin is rebuilt
source_hash() {
  (cd "$LOCAL_SRC/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

stamp_of() {
  echo "$DEST/.$1.source-sha256"
}

stale() {
  built "$1" || return 0
  is_local "$1" || return 1
  if [ ! -f "$(stamp_of "$1")" ]; then
    # built before this script kept hashes: adopted as is, not rebuilt under running tests
    source_hash "$1" >"$(stamp_of "$1")"
    return 1
  fi
  [ "$(cat "$(stamp_of "$1")")" != "$(source_hash "$1")" ]
}

complete() {
  local name
  for name in "${PLUGINS[@]}"; do
    built "$name" || return 1
  done
}

TODO=()
for name in "${PLUGINS[@]}"; do
  if stale "$name"; then
    TODO+=("$name")
  fi
done
if [ "${#TODO[@]}" -eq 0 ]; then
  echo "plugins already built in $DEST"
  exit 0
fi
echo "to build: ${TODO[*]}"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# apt-get source needs a deb-src entry; derive one from the binary entries.
has_deb_src() {
  # only the files apt reads: sources.list, *.list and *.sources
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  grep -qsE '^[[:space:]]*(Types:.*deb-src|deb-src[[:space:]])' "${files[@]}" 2>/dev/null
}
if ! has_deb_src; then
  echo "adding a deb-src entry for apt"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      | $SUDO tee /etc/apt/sources.list.d/mixhost-deb-src.sources >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    grep -E '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list | sed -E 's/^([[:space:]]*)deb /\1deb-src /' \
      | $SUDO tee /etc/apt/sources.list.d/mixhost-deb-src.list >/dev/null
  else
    echo "no apt sources found: cannot fetch $SRC_PACKAGE" >&2
    exit 1
  fi
fi
$SUDO apt-get update -q

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mixhost-plugins.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# apt-get source exits non-zero when a Debian-only tarball is missing even
# though the upstream .orig tarball (all we need) arrived; check for it instead.
apt-get source --download-only "$SRC_PACKAGE" || true
ORIG="$(ls "$SRC_PACKAGE"_*.orig.tar.* 2>/dev/null | head -n 1 || true)"
if [ -z "$ORIG" ]; then
  echo "apt-get source did not deliver the $SRC_PACKAGE upstream tarball" >&2
  exit 1
fi
tar -xf "$ORIG"
SRC="$(find . -mindepth 1 -maxdepth 1 -type d -name "$SRC_PACKAGE-*" | head -n 1)"
[ -n "$SRC" ] || { echo "unpacking $ORIG gave no source directory" >&2; exit 1; }

for name in "${TODO[@]}"; do
  if is_local "$name"; then
    rm -rf "$SRC/plugins/$name"
    cp -R "$LOCAL_SRC/$name" "$SRC/plugins/$name"
  fi
done

JOBS="$(nproc 2>/dev/null || echo 2)"
for name in "${TODO[@]}"; do
  echo "building $name.vst3"
  make -s -j"$JOBS" -C "$SRC/plugins/$name" vst3 HAVE_OPENGL=false HAVE_CAIRO=false UI_TYPE=none
done

mkdir -p "$DEST"
for name in "${TODO[@]}"; do
  rm -rf "${DEST:?}/$name.vst3"
  cp -R "$SRC/bin/$name.vst3" "$DEST/"
  if is_local "$name"; then
    source_hash "$name" >"$(stamp_of "$name")"
  fi
done

if ! complete; then
  echo "plugin build incomplete: expected ${PLUGINS[*]} in $DEST" >&2
  exit 1
fi
echo "built ${TODO[*]} into $DEST"
