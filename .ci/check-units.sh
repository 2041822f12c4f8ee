#!/usr/bin/env bash
# Checks the systemd units in systemd/ without a running systemd:
#   1. `systemd-analyze verify` in a scratch root, failing on any diagnostic (verify exits 0 on
#      unknown keys and unparsable values, so its output is what catches typos);
#   2. `systemd-analyze security --offline=true` against an exposure ceiling.
# Both run with --root=<scratch> so drop-ins or units installed on the CI host cannot change the
# result. Templates (foo@.service) are checked as the instance foo@example.service.
#
# Usage: .ci/check-units.sh            (from anywhere; MAX_EXPOSURE=15 means 1.5, the default)
set -euo pipefail

# systemd-analyze's threshold is the exposure times ten: 15 = 1.5. The units measure 1.1.
MAX_EXPOSURE="${MAX_EXPOSURE:-15}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
unit_dir="$repo_root/systemd"

log() { printf '%s\n' "$*" >&2; }

ensure_systemd_analyze() {
    if command -v systemd-analyze >/dev/null 2>&1; then
        return
    fi
    # CI is a clean Debian 12 machine where we are root: install rather than skip, so a missing
    # tool can never turn this check green.
    log "systemd-analyze not found; installing the systemd package"
    local sudo=()
    if [[ $EUID -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            log "error: systemd-analyze is missing and we are not root (no sudo) to install it"
            exit 2
        fi
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd
    command -v systemd-analyze >/dev/null 2>&1 || {
        log "error: systemd-analyze still missing after installing systemd"
        exit 2
    }
}

# A minimal merged-/usr root: stub executables for every Exec*= path the units use, our units in
# /etc/systemd/system, and the distribution's units (sysinit.target, network-online.target, ...)
# that verify resolves dependencies against.
build_scratch_root() {
    local root="$1"
    mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
    ln -s usr/bin "$root/bin"
    local stub
    for stub in dutywatch kill; do
        printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/$stub"
        chmod 0755 "$root/usr/bin/$stub"
    done
    if [[ -d /usr/lib/systemd/system ]]; then
        cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
    else
        log "error: /usr/lib/systemd/system is missing; is the systemd package installed?"
        exit 2
    fi
    cp "$unit_dir"/*.service "$root/etc/systemd/system/"
}

ensure_systemd_analyze
log "$(systemd-analyze --version | head -n 1)"

scratch="$(mktemp -d)"
trap 'rm -rf -- "$scratch"' EXIT
build_scratch_root "$scratch"

shopt -s nullglob
unit_files=("$unit_dir"/*.service)
if [[ ${#unit_files[@]} -eq 0 ]]; then
    log "error: no unit files in $unit_dir"
    exit 2
fi

failed=0
summary=()
for file in "${unit_files[@]}"; do
    name="$(basename "$file")"
    unit="$name"
    if [[ "$name" == *@.service ]]; then
        unit="${name%@.service}@example.service"
    fi

    log "== $unit: systemd-analyze verify --man=no --root=<scratch> $unit"
    verify_rc=0
    verify_out="$(systemd-analyze verify --man=no --root="$scratch" "$unit" 2>&1)" || verify_rc=$?
    if [[ $verify_rc -ne 0 || -n "$verify_out" ]]; then
        [[ -n "$verify_out" ]] && log "$verify_out"
        log "FAIL: verify $unit (exit $verify_rc, $(wc -l <<<"$verify_out") diagnostic line(s))"
        failed=1
        verify_status="verify FAIL"
    else
        verify_status="verify ok"
    fi

    log "== $unit: systemd-analyze security --offline=true --threshold=$MAX_EXPOSURE --root=<scratch> $unit"
    sec_rc=0
    sec_out="$(systemd-analyze security --no-pager --offline=true --threshold="$MAX_EXPOSURE" \
        --root="$scratch" "$unit" 2>&1)" || sec_rc=$?
    # Findings that count against the score, then the overall line.
    grep -E '^✗' <<<"$sec_out" >&2 || true
    exposure="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' <<<"$sec_out")"
    if [[ -z "$exposure" ]]; then
        log "$sec_out"
        log "FAIL: security $unit printed no exposure level (exit $sec_rc)"
        failed=1
        summary+=("$unit: $verify_status, exposure ?")
        continue
    fi
    # --threshold makes systemd-analyze exit non-zero above the ceiling; compare ourselves too so
    # a change in that behaviour cannot pass silently.
    over="$(awk -v e="$exposure" -v t="$MAX_EXPOSURE" 'BEGIN { print (e * 10 > t) ? 1 : 0 }')"
    if [[ $sec_rc -ne 0 || $over -ne 0 ]]; then
        [[ $sec_rc -ne 0 && $over -eq 0 ]] && log "$sec_out"
        log "FAIL: security $unit exposure $exposure (max $(awk -v t="$MAX_EXPOSURE" 'BEGIN { printf "%.1f", t / 10 }'), exit $sec_rc)"
        failed=1
        summary+=("$unit: $verify_status, exposure $exposure FAIL")
    else
        summary+=("$unit: $verify_status, exposure $exposure ok")
    fi
done

log ""
log "systemd unit check summary (max exposure $(awk -v t="$MAX_EXPOSURE" 'BEGIN { printf "%.1f", t / 10 }')):"
for line in "${summary[@]}"; do
    log "  $line"
done
exit "$failed"
