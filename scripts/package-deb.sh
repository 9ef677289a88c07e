#!/usr/bin/env bash
# Builds a Debian package of Nightjar for this machine's architecture with dpkg-deb: a release
# build installed by scripts/install.sh into a staging directory (prefix /usr, configuration in
# /etc as shipped: the installed `nightjar doctor` says which board profile applies), the
# dependencies from the shared libraries the binary links (dpkg -S), /etc files as conffiles.
#
#   scripts/package-deb.sh [-o DIR] [--no-build] [--check]
#
# -o DIR     where nightjar_VERSION_ARCH.deb goes (default: .build/deb)
# --no-build package the release build that is already there
# --check    then unpack the package into a scratch root and check it: the files, the control
#            data, and the unpacked binary running `doctor` with the unpacked boards
set -euo pipefail
cd "$(dirname "$0")/.."

out=.build/deb
install_args=()
check=0
while [ $# -gt 0 ]; do
    case "$1" in
        -o) out="${2:?-o needs a directory}"; shift 2 ;;
        --no-build) install_args+=(--no-build); shift ;;
        --check) check=1; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package-deb.sh: error: unknown option '$1' (see --help)" >&2; exit 64 ;;
    esac
done
command -v dpkg-deb >/dev/null || { echo "package-deb.sh: error: dpkg-deb not found (a Debian or Ubuntu system is needed)" >&2; exit 1; }

arch="$(dpkg --print-architecture)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/nightjar"

DESTDIR="$stage" scripts/install.sh --prefix /usr --sysconfdir /etc --no-profile "${install_args[@]}"
binary="$stage/usr/bin/nightjar"
version="$("$binary" --version)"

# Dependencies: the package of each shared library the binary loads (the Swift runtime, when not
# linked in, belongs to no package: a package for other machines needs --static-swift-stdlib,
# which install.sh builds with).
# The libraries the binary names itself (DT_NEEDED), where the loader finds them; every one ldd
# lists when binutils is missing.
libraries() {
    local resolved needed
    resolved="$(ldd "$binary" | sed -n 's/^[[:space:]]*\([^ ]*\) => \(\/[^ ]*\) .*/\1 \2/p')"
    if command -v objdump >/dev/null; then
        for needed in $(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }'); do
            printf '%s\n' "$resolved" | awk -v n="$needed" '$1 == n { print $2 }'
        done
    else
        printf '%s\n' "$resolved" | awk '{ print $2 }'
    fi
}
depends=()
orphans=()
while read -r library; do
    [ -n "$library" ] || continue
    owner=""
    for candidate in "$library" "$(readlink -f "$library")" "${library/#\/usr\/lib/\/lib}" "${library/#\/lib/\/usr\/lib}"; do
        owner="$(dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1 || true)"
        [ -n "$owner" ] && break
    done
    if [ -z "$owner" ]; then
        orphans+=("$(basename "$library")")
        continue
    fi
    case " ${depends[*]} " in *" $owner "*) ;; *) depends+=("$owner") ;; esac
done < <(libraries)
depends_line="$(IFS=,; echo "${depends[*]}" | sed 's/,/, /g')"
if [ ${#orphans[@]} -gt 0 ]; then
    echo "package-deb.sh: warning: ${#orphans[@]} linked libraries belong to no package (${orphans[*]}); the package works only" \
         "where they are installed the same way (build with --static-swift-stdlib, as install.sh does)" >&2
fi

mkdir -p "$stage/DEBIAN"
size_kib="$(du -sk "$stage" | cut -f1)"
cat > "$stage/DEBIAN/control" <<EOF
Package: nightjar
Version: $version
Architecture: $arch
Maintainer: Nightjar developers <nightjar@localhost>
Installed-Size: $size_kib
Depends: $depends_line
Section: graphics
Priority: optional
Description: restores extremely dark RAW photographs in real time
 Nightjar runs the low-light restoration network of Lamba & Mitra (CVPR 2021)
 on Raspberry Pi, Jetson and x86-64 boards: dark Bayer RAW files (DNG, ARW,
 NEF, ..., headerless sensor dumps) in, finished PNGs out. Board profiles
 are in /usr/share/nightjar/boards; 'nightjar doctor' checks a deployment.
EOF
if [ -d "$stage/etc" ]; then
    (cd "$stage" && find etc -type f | sed 's|^|/|') > "$stage/DEBIAN/conffiles"
fi
mkdir -p "$out"
deb="$out/nightjar_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "package-deb.sh: $deb (depends: ${depends_line:-nothing})"

if [ "$check" -eq 1 ]; then
    root="$work/root"
    dpkg-deb -x "$deb" "$root"
    fail() { echo "package-deb.sh: check failed: $*" >&2; exit 1; }
    [ "$(dpkg-deb -f "$deb" Package)" = nightjar ] || fail "package name"
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "architecture"
    [ -x "$root/usr/bin/nightjar" ] || fail "no /usr/bin/nightjar"
    for f in boards/*.json; do
        cmp -s "$f" "$root/usr/share/nightjar/boards/$(basename "$f")" || fail "$f is not installed as it is"
    done
    # The unpacked binary finds the unpacked boards (PREFIX/share/nightjar/boards) by itself.
    env -u NIGHTJAR_BOARDS "$root/usr/bin/nightjar" doctor --board pi-zero-2w --size 1536x1024 --json > "$work/doctor.json" \
        || fail "the installed nightjar doctor failed: $(cat "$work/doctor.json")"
    grep -q '"profile" : "pi-zero-2w"' "$work/doctor.json" || fail "the installed binary does not find its boards"
    [ "$("$root/usr/bin/nightjar" --version)" = "$version" ] || fail "version"
    if [ -f systemd/nightjar.service ]; then
        [ -f "$root/usr/lib/systemd/system/nightjar.service" ] || fail "no unit"
    fi
    echo "package-deb.sh: checked $deb: $(dpkg-deb -c "$deb" | wc -l) entries, the binary runs from the unpacked root"
fi
