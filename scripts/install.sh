#!/usr/bin/env bash
# Installs Nightjar from this checkout in one step: a release build, the binary, the board
# profiles, and (when the checkout has them) the systemd unit, sysusers and tmpfiles entries and
# a configuration with the values of this board's profile (or --board's).
#
#   scripts/install.sh [--prefix DIR] [--sysconfdir DIR] [--board ID|FILE] [--no-build]
#                      [--no-profile] [--dry-run]
#   DESTDIR=/tmp/stage scripts/install.sh ...     # stage into a directory (packaging)
#
# --prefix     where the files go (default /usr/local): PREFIX/bin/nightjar,
#              PREFIX/share/nightjar/boards/, PREFIX/lib/systemd/system/nightjar.service,
#              PREFIX/lib/sysusers.d/nightjar.conf, PREFIX/lib/tmpfiles.d/nightjar.conf
# --sysconfdir where nightjar/nightjar.conf goes (default /etc); an existing one is kept
# --board      the profile whose values the configuration and the unit get (default: detected)
# --no-build   install the release build that is already there
# --no-profile install the configuration and the unit as they are (a package for any board)
# --dry-run    say what would be done and do nothing
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
sysconfdir=/etc
board=""
build=1
profile=1
dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        --prefix=*) prefix="${1#*=}"; shift ;;
        --sysconfdir) sysconfdir="${2:?--sysconfdir needs a directory}"; shift 2 ;;
        --sysconfdir=*) sysconfdir="${1#*=}"; shift ;;
        --board) board="${2:?--board needs an id or a file}"; shift 2 ;;
        --board=*) board="${1#*=}"; shift ;;
        --no-build) build=0; shift ;;
        --no-profile) profile=0; shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: error: unknown option '$1' (see --help)" >&2; exit 64 ;;
    esac
done
case "$prefix" in /*) ;; *) echo "install.sh: error: --prefix must be an absolute path, not '$prefix'" >&2; exit 64 ;; esac
case "$sysconfdir" in /*) ;; *) echo "install.sh: error: --sysconfdir must be an absolute path" >&2; exit 64 ;; esac
destdir="${DESTDIR:-}"

run() {
    echo "+ $*"
    if [ "$dry" -eq 0 ]; then "$@"; fi
}

# 1. The release build (the Swift runtime linked in, so the binary needs only LibRaw and libpng).
flags=(-c release --static-swift-stdlib --product nightjar)
if [ "$build" -eq 1 ]; then
    run swift build "${flags[@]}"
fi
binary="$(swift build "${flags[@]}" --show-bin-path)/nightjar"
if [ "$build" -eq 0 ] && [ ! -x "$binary" ]; then
    binary="$(swift build -c release --show-bin-path)/nightjar"
fi
if [ "$dry" -eq 0 ] && [ ! -x "$binary" ]; then
    echo "install.sh: error: no release build at $binary (run without --no-build)" >&2
    exit 1
fi

# 2. The profile whose values the configuration gets.
profile_id="" memory_max="" threads="" max_frame="" precision=""
if [ "$profile" -eq 1 ] && [ -x "$binary" ]; then
    args=(doctor --json)
    [ -n "$board" ] && args+=(--board "$board")
    report="$(NIGHTJAR_BOARDS="$PWD/boards" "$binary" "${args[@]}" 2>/dev/null || true)"
    field() { printf '%s\n' "$report" | sed -n "s/^ *\"$1\" : \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1; }
    profile_id="$(field profile)"
    if [ -z "$profile_id" ]; then
        if [ -n "$board" ]; then
            echo "install.sh: error: unknown board '$board' (see boards/)" >&2
            exit 1
        fi
        echo "install.sh: no board profile matches this machine; the configuration keeps its defaults (use --board)"
    else
        memory_max="$(field profile_memory_max)" threads="$(field profile_threads)"
        max_frame="$(field profile_max_frame)" precision="$(field profile_precision)"
        echo "install.sh: board profile $profile_id: MemoryMax=$memory_max, $threads threads, frames up to $max_frame, $precision"
    fi
fi

if [ "$profile" -eq 1 ] && [ ! -x "$binary" ]; then
    echo "install.sh: the board profile is detected with the built binary (nightjar doctor) after the build"
fi

# 3. The files.
bindir="$destdir$prefix/bin"
boarddir="$destdir$prefix/share/nightjar/boards"
unitdir="$destdir$prefix/lib/systemd/system"
confdir="$destdir$sysconfdir/nightjar"
run install -d -m 0755 "$bindir" "$boarddir"
run install -m 0755 "$binary" "$bindir/nightjar"
for f in boards/*.json; do
    run install -m 0644 "$f" "$boarddir/"
done

# Sets KEY's value in a KEY=VALUE file (spaces around = allowed); keys it does not have stay absent.
set_value() {
    local file="$1" key="$2" value="$3"
    [ -n "$value" ] || return 0
    if grep -Eq "^[[:space:]]*$key[[:space:]]*=" "$file"; then
        run sed -i -E "s|^([[:space:]]*$key[[:space:]]*=[[:space:]]*).*|\1$value|" "$file"
    fi
}

if [ -f systemd/nightjar.service ]; then
    run install -d -m 0755 "$unitdir"
    run install -m 0644 systemd/nightjar.service "$unitdir/nightjar.service"
    [ -n "$memory_max" ] && set_value "$unitdir/nightjar.service" MemoryMax "$memory_max"
    # The unit names the binary where this install puts it.
    if [ "$prefix" != /usr ]; then
        run sed -i -E "s|/usr/bin/nightjar|$prefix/bin/nightjar|g" "$unitdir/nightjar.service"
    fi
else
    echo "install.sh: no systemd/nightjar.service in this checkout; no unit installed"
fi
if [ -f systemd/nightjar.sysusers ]; then
    run install -D -m 0644 systemd/nightjar.sysusers "$destdir$prefix/lib/sysusers.d/nightjar.conf"
fi
if [ -f systemd/nightjar.tmpfiles ]; then
    run install -D -m 0644 systemd/nightjar.tmpfiles "$destdir$prefix/lib/tmpfiles.d/nightjar.conf"
fi
if [ -f systemd/nightjar.conf ]; then
    if [ -e "$confdir/nightjar.conf" ]; then
        echo "install.sh: kept the existing $confdir/nightjar.conf"
    else
        run install -d -m 0755 "$confdir"
        run install -m 0644 systemd/nightjar.conf "$confdir/nightjar.conf"
        for key in board BOARD NIGHTJAR_BOARD; do set_value "$confdir/nightjar.conf" "$key" "$profile_id"; done
        for key in threads THREADS NIGHTJAR_THREADS; do set_value "$confdir/nightjar.conf" "$key" "$threads"; done
        for key in max-size max_size MAX_SIZE NIGHTJAR_MAX_SIZE; do set_value "$confdir/nightjar.conf" "$key" "$max_frame"; done
        for key in precision PRECISION NIGHTJAR_PRECISION; do set_value "$confdir/nightjar.conf" "$key" "$precision"; done
    fi
fi
# 4. On the running system (not when staging), make the service's user and directories now and
# let systemd see the unit; starting it is the owner's decision.
if [ -z "$destdir" ] && [ -f systemd/nightjar.service ] && [ -d /run/systemd/system ]; then
    if [ -f systemd/nightjar.sysusers ]; then run systemd-sysusers "$prefix/lib/sysusers.d/nightjar.conf"; fi
    if [ -f systemd/nightjar.tmpfiles ]; then run systemd-tmpfiles --create "$prefix/lib/tmpfiles.d/nightjar.conf"; fi
    run systemctl daemon-reload
    echo "install.sh: start the service with: systemctl enable --now nightjar"
fi
if [ "$dry" -eq 1 ]; then
    echo "install.sh: dry run: nothing was changed"
else
    echo "install.sh: installed into $destdir$prefix"
fi
if [ -z "$destdir" ] && [ "$dry" -eq 0 ]; then
    echo "install.sh: check the installation with: $prefix/bin/nightjar doctor --model MODEL.safetensors"
fi
