#!/usr/bin/env bash
# Sets up everything mcudet needs on a Debian machine with Python 3.10-3.12 and apt:
#   .venv/ at the repository root with torch (CPU), mmcv built from source with CPU ops,
#   mmengine, mmdet, the test tools and mcudet itself (editable), plus the Cortex-M
#   toolchain and QEMU from Debian.
# Idempotent: a stamp records what was installed; a second run checks it and returns in seconds.
#
# Environment:
#   PYTHON           interpreter used to create .venv (default: python3)
#   PIP_FIND_LINKS   extra wheel folders; a prebuilt mmcv wheel there skips the 19-minute compile
#   TORCH_INDEX_URL  optional index for torch (e.g. https://download.pytorch.org/whl/cpu)
#   MCUDET_SKIP_APT  set to 1 to skip the Debian packages (for machines without root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.mcudet-install-stamp"
APT_PACKAGES=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)
APT_COMMANDS=(arm-none-eabi-gcc arm-none-eabi-size qemu-system-arm)

log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

# Everything that decides what gets installed; a change to any of them re-runs the pip steps.
stamp_inputs() {
    cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$ROOT/tools/install.sh"
    "$PY" -c 'import sys; print(sys.version)'
}

install_apt() {
    local missing=()
    for cmd in "${APT_COMMANDS[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    # newlib ships no command; look for its nano specs file instead.
    if command -v arm-none-eabi-gcc >/dev/null 2>&1; then
        [ -f "$(arm-none-eabi-gcc -print-file-name=nano.specs)" ] || missing+=(newlib)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "${MCUDET_SKIP_APT:-0}" = 1 ]; then
        log "MCUDET_SKIP_APT=1: not installing ${APT_PACKAGES[*]} (missing: ${missing[*]})"
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install ${APT_PACKAGES[*]} (or set MCUDET_SKIP_APT=1)"
        sudo=(sudo)
    fi
    log "apt: installing ${APT_PACKAGES[*]} (about 100 MB; missing: ${missing[*]})"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
}

# ---------------------------------------------------------------------------------------------
# QEMU instruction-counting plugin header (optional; firmware issue 8).
# Debian ships qemu-plugin.h only in the qemu *source* package. Fetch the source of exactly the
# installed qemu-system-arm version (a private deb-src list and apt lists dir under a temporary
# folder: the system's apt configuration is not changed), keep only include/qemu/qemu-plugin.h
# and the QEMU version it matches in $VENV/share/mcudet/qemu-plugin/. mcudet compiles
# deploy/boards/qemu/insn_count.c against it on first use (mcudet/deploy/qemu_plugin.py).
# Idempotent (returns at once when the header matches the installed QEMU) and optional: any
# failure only logs, and instruction counts then come from -icount + SysTick, the tests that
# need the plugin skip. MCUDET_SKIP_QEMU_PLUGIN=1 skips this step.
install_qemu_plugin_header() {
    local dir="$VENV/share/mcudet/qemu-plugin"
    command -v qemu-system-arm >/dev/null 2>&1 || return 0
    local want
    want="$(qemu-system-arm --version 2>/dev/null | head -n 1)"
    if [ -f "$dir/qemu-plugin.h" ] && [ "$(cat "$dir/qemu-version.txt" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    if [ "${MCUDET_SKIP_QEMU_PLUGIN:-0}" = 1 ] || [ "${MCUDET_SKIP_APT:-0}" = 1 ]; then
        log "qemu plugin: skipped (no instruction-counting plugin; -icount + SysTick is the fallback)"
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
        log "qemu plugin: needs root and apt-get to fetch qemu-plugin.h; skipped (fallback: -icount + SysTick)"
        return 0
    fi
    local srcver tmp
    srcver="$(dpkg-query -W -f='${source:Version}' qemu-system-arm 2>/dev/null)" || return 0
    tmp="$(mktemp -d)"
    (
        # errexit does not apply inside a `( ... ) && ...` list: every step checks itself.
        mkdir -p "$tmp/parts" "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/src" || exit 1
        # deb-src twins of the enabled deb sources (deb822 .sources files and one-line .list files).
        for f in /etc/apt/sources.list.d/*.sources; do
            [ ! -f "$f" ] || sed 's/^Types: *deb$/Types: deb-src/' "$f" > "$tmp/parts/$(basename "$f")" || exit 1
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ ! -f "$f" ] || sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f" > "$tmp/parts/$(basename "$f")" || exit 1
        done
        apt_opts=(-q -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$tmp/parts"
                  -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache")
        apt-get "${apt_opts[@]}" update >/dev/null 2>&1 || exit 1
        cd "$tmp/src" || exit 1
        apt-get "${apt_opts[@]}" source --download-only "qemu=$srcver" >/dev/null 2>&1 || exit 1
        # Debian 12's patches leave the plugin header alone, so the upstream tarball's copy is exact.
        tar -xJf qemu_*.orig.tar.xz --wildcards --strip-components=3 '*/include/qemu/qemu-plugin.h' || exit 1
        grep -q 'QEMU_PLUGIN_VERSION' qemu-plugin.h || exit 1
        mkdir -p "$dir" || exit 1
        cp qemu-plugin.h "$dir/qemu-plugin.h.tmp" && mv "$dir/qemu-plugin.h.tmp" "$dir/qemu-plugin.h" || exit 1
        printf '%s\n' "$want" > "$dir/qemu-version.txt"
    ) && log "qemu plugin: qemu-plugin.h of qemu $srcver in $dir" \
      || log "qemu plugin: could not fetch qemu-plugin.h of qemu $srcver; instruction counts fall back to -icount + SysTick"
    rm -rf "$tmp"
    return 0
}
# ---------------------------------------------------------------------------------------------

make_venv() {
    [ -x "$PY" ] && return 0
    local base="${PYTHON:-python3}"
    command -v "$base" >/dev/null 2>&1 || die "no '$base' on PATH; install Python 3.11 or set PYTHON=/path/to/python3.11"
    "$base" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' \
        || die "$("$base" --version 2>&1) is not supported: mcudet needs Python 3.10 to 3.12 (set PYTHON=...)"
    log "creating $VENV with $("$base" --version 2>&1)"
    "$base" -m venv "$VENV" || die "'$base -m venv' failed; on Debian: apt-get install python3-venv"
}

pip() { "$PY" -m pip --disable-pip-version-check "$@"; }

have_module() { "$PY" -c "import $1" >/dev/null 2>&1; }

install_torch() {
    if "$PY" -c 'import torch, sys; sys.exit(not torch.__version__.startswith("2.13.0"))' 2>/dev/null; then
        return 0
    fi
    log "pip: torch==2.13.0"
    local extra=()
    [ -n "${TORCH_INDEX_URL:-}" ] && extra=(--index-url "$TORCH_INDEX_URL")
    pip install --progress-bar on "${extra[@]}" -r "$ROOT/requirements/torch.txt"
}

install_mmcv() {
    if "$PY" -c 'import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != "2.1.0")' 2>/dev/null; then
        return 0
    fi
    log "pip: mmcv==2.1.0 with CPU ops (a wheel on PIP_FIND_LINKS or in pip's cache installs in seconds; a source build takes about 19 minutes on 2 cores)"
    local start=$SECONDS
    # -v makes pip show the compiler; print one short line per compiled file so a long build shows progress.
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$PY" -m pip --disable-pip-version-check install -v --no-build-isolation \
        -r "$ROOT/requirements/mminstall.txt" 2>&1 | tee "$VENV/mmcv-install.log" | \
        awk -v start="$(date +%s)" '
            /^ *\[[0-9]+\/[0-9]+\]/ { n++; printf("[install mmcv] %s (%ds)\n", $1, systime() - start); fflush(); next }
            /(^| )(gcc|g\+\+|c\+\+|x86_64-linux-gnu-g\+\+) .* -c / { n++; if (n % 5 == 0) { printf("[install mmcv] compiled %d files (%ds)\n", n, systime() - start); fflush() } next }
            /Successfully installed|ERROR|error:/ { print; fflush() }'
    [ "${PIPESTATUS[0]}" = 0 ] || die "mmcv install failed; see $VENV/mmcv-install.log"
    "$PY" -c 'import mmcv.ops' || die "mmcv installed without ops; see $VENV/mmcv-install.log"
    log "mmcv ready in $((SECONDS - start)) s"
}

main() {
    install_apt
    make_venv
    install_qemu_plugin_header
    if [ -f "$STAMP" ] && [ "$(stamp_inputs | sha256sum)" = "$(cat "$STAMP")" ] \
            && "$PY" -c 'import mcudet' 2>/dev/null; then
        log "up to date ($VENV)"
        return 0
    fi
    local start=$SECONDS
    install_torch
    # After torch: torch 2.13 declares setuptools>=77, which would remove pkg_resources; mmcv's
    # setup.py and mmengine's `mmdet::` config inheritance need it, so pin setuptools<70 back.
    log "pip: build tools (setuptools<70, wheel, ninja); pip's note that torch wants setuptools>=77 is expected"
    pip install -q -r "$ROOT/requirements/build.txt"
    "$PY" -c 'import pkg_resources' 2>/dev/null || die "pkg_resources is missing after installing setuptools<70"
    install_mmcv
    log "pip: runtime and test requirements"
    pip install --progress-bar on -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
    log "pip: mcudet (editable)"
    pip install -q --no-build-isolation --no-deps -e "$ROOT"
    "$PY" -c 'import mcudet, mmdet, mmcv.ops' || die "import check failed after install"
    stamp_inputs | sha256sum > "$STAMP"
    log "done in $((SECONDS - start)) s"
}

main "$@"
