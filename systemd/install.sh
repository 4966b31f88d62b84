#!/bin/sh
# Sets a Raspberry Pi OS / Debian machine up as a library kiosk, or takes it off again.
# Run as root from a checkout of the kiosk:
#     sudo systemd/install.sh              install (or repair; safe to run again)
#     sudo systemd/install.sh --dry-run    only say what it would do
#     sudo systemd/install.sh --uninstall  remove the kiosk, keep its data and configuration
#     sudo systemd/install.sh --uninstall --purge   remove those too
# What it does: the system packages the kiosk needs; a system user `kiosk` in the groups
# input, video, render, dialout, plugdev and audio; the kiosk in
# /opt/library-kiosk/releases/<version> with its own venv, and /opt/library-kiosk/current
# pointing at it; /etc/library-kiosk with kiosk.toml (from config/example-branch.toml,
# never overwriting one already there), environment (secrets) and update-sources; the data
# folder /var/lib/library-kiosk; the systemd units and udev rules from this folder.
# Every step looks first and changes only what differs: a second run changes nothing.
# Later releases go beside this one with `kiosk update install|switch` (safe, with rollback).
#
# Options:
#   --root DIR        install into DIR instead of / (an image being prepared, or a test):
#                     no packages, users, ownership or reloads, which belong to a running system
#   --source PATH     a kiosk wheel or source folder (default: the checkout holding this script)
#   --version V       the release version (default: read from the source)
#   --wheelhouse DIR  install offline from a folder of wheels (pip --no-index --find-links)
#   --python PY       the Python that makes the venv (default: python3)
#   --no-packages     do not install Debian packages
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
CHECKOUT=$(dirname "$HERE")
ROOT=/
DRY_RUN=0
UNINSTALL=0
PURGE=0
SOURCE=""
VERSION=""
WHEELHOUSE=""
PYTHON=python3
PACKAGES=1
CHANGES=0

PREFIX=/opt/library-kiosk
CONF_DIR=/etc/library-kiosk
DATA_DIR=/var/lib/library-kiosk
UNIT_DIR=/etc/systemd/system
RULES=/etc/udev/rules.d/99-library-kiosk.rules
BLACKLIST=/etc/modprobe.d/library-kiosk-nfc.conf
UNITS="kiosk.service kiosk-update.service kiosk-update.path"
ENABLED="kiosk.service kiosk-update.path"
GROUPS_NEEDED="input video render dialout plugdev audio"
# libgl1, libegl1, libgles2, libgbm1: Kivy's window drawn straight on the display (KMS/DRM);
# libmtdev1: multitouch screens; espeak-ng: the kiosk's voice; python3-venv: the releases.
DEBIAN_PACKAGES="python3 python3-venv libgl1 libegl1 libgles2 libgbm1 libmtdev1 espeak-ng"

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 2; }

usage() {
    sed -n '2,/^set -eu$/p' "$0" | sed -e '/^set -eu$/d' -e 's/^# \{0,1\}//'
    exit "${1:-2}"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || die "--root needs a folder"; ROOT=$2; shift ;;
        --source) [ $# -ge 2 ] || die "--source needs a path"; SOURCE=$2; shift ;;
        --version) [ $# -ge 2 ] || die "--version needs a value"; VERSION=$2; shift ;;
        --wheelhouse) [ $# -ge 2 ] || die "--wheelhouse needs a folder"; WHEELHOUSE=$2; shift ;;
        --python) [ $# -ge 2 ] || die "--python needs a program"; PYTHON=$2; shift ;;
        --dry-run) DRY_RUN=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        --no-packages) PACKAGES=0 ;;
        -h|--help) usage 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[ "$PURGE" = 0 ] || [ "$UNINSTALL" = 1 ] || die "--purge goes with --uninstall"

ROOT=$(cd "$ROOT" 2>/dev/null && pwd) || die "--root: no such folder"
if [ "$ROOT" = / ]; then
    REAL=1
    R=""
else
    REAL=0
    R=$ROOT
fi
if [ "$REAL" = 1 ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "run it as root (sudo $0), or with --dry-run to see what it would do"
fi

# One change: counted and announced; in a dry run only announced (returns false).
change() {
    CHANGES=$((CHANGES + 1))
    if [ "$DRY_RUN" = 1 ]; then
        say "would $*"
        return 1
    fi
    say "$*"
}

# Ownership and system state exist only on the running system, not in a --root tree.
own() { if [ "$REAL" = 1 ]; then chown "$@"; fi; }

has_systemd() { [ "$REAL" = 1 ] && [ -d /run/systemd/system ]; }

systemctl_here() {
    if [ "$REAL" = 1 ]; then systemctl "$@"; else systemctl --root="$ROOT" "$@"; fi
}

# install_file SRC DEST MODE: copy when missing or different.
install_file() {
    if ! cmp -s "$1" "$R$2"; then
        change "install $2" || return 0
        mkdir -p "$(dirname "$R$2")"
        cp "$1" "$R$2.new.$$"
        chmod "$3" "$R$2.new.$$"
        mv -f "$R$2.new.$$" "$R$2"
        return 0
    fi
    ensure_mode "$2" "$3"
}

ensure_mode() {
    [ -e "$R$1" ] || return 0
    if [ "$(stat -c %a "$R$1")" != "$2" ]; then
        change "set mode $2 on $1" || return 0
        chmod "$2" "$R$1"
    fi
}

ensure_dir() { # PATH MODE [OWNER]
    if [ ! -d "$R$1" ]; then
        change "create folder $1" || return 0
        mkdir -p "$R$1"
    fi
    ensure_mode "$1" "$2"
    [ $# -ge 3 ] && [ "$REAL" = 1 ] && [ -d "$1" ] || return 0
    if [ "$(stat -c %U:%G "$1")" != "$3" ]; then
        change "give $1 to $3" || return 0
        chown "$3" "$1"
    fi
}

# write_new PATH MODE: a file from standard input, only if none is there (never overwrites).
write_new() {
    if [ -e "$R$1" ]; then
        cat >/dev/null
        return 0
    fi
    if ! change "create $1"; then
        cat >/dev/null
        return 0
    fi
    mkdir -p "$(dirname "$R$1")"
    cat >"$R$1"
    chmod "$2" "$R$1"
}

source_version() {
    case "$SOURCE" in
        *.whl)
            basename "$SOURCE" | cut -d- -f2 ;;
        *)
            [ -f "$SOURCE/kiosk/__init__.py" ] || die "--source: not a kiosk wheel or source folder: $SOURCE"
            sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$SOURCE/kiosk/__init__.py" ;;
    esac
}

# --- installing ---------------------------------------------------------------------------

install_packages() {
    [ "$REAL" = 1 ] && [ "$PACKAGES" = 1 ] || return 0
    command -v dpkg-query >/dev/null 2>&1 || { say "not Debian: install $DEBIAN_PACKAGES yourself"; return 0; }
    missing=""
    for pkg in $DEBIAN_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $pkg"
    done
    [ -n "$missing" ] || return 0
    change "install Debian packages:$missing" || return 0
    # shellcheck disable=SC2086 # one word per package
    apt-get install -y -q $missing >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
}

install_user() {
    if [ "$REAL" = 0 ]; then
        [ "$DRY_RUN" = 1 ] || say "not on the running system: the kiosk user and ownership are left to it"
        return 0
    fi
    for group in $GROUPS_NEEDED kiosk; do
        getent group "$group" >/dev/null 2>&1 && continue
        change "create group $group" && groupadd --system "$group"
    done
    if ! id kiosk >/dev/null 2>&1; then
        groups=$(printf '%s' "$GROUPS_NEEDED" | tr ' ' ',')
        change "create system user kiosk (groups $groups)" && useradd --system --gid kiosk \
            --groups "$groups" --home-dir "$DATA_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "Library kiosk" kiosk
    fi
    id kiosk >/dev/null 2>&1 || return 0
    for group in $GROUPS_NEEDED; do
        id -nG kiosk | tr ' ' '\n' | grep -qx "$group" && continue
        change "add user kiosk to group $group" && usermod -a -G "$group" kiosk
    done
    return 0
}

install_release() {
    release="$PREFIX/releases/$VERSION"
    if [ ! -f "$R$release/release.json" ] \
        && change "install release $VERSION into $release (venv, pip install $SOURCE)"; then
        rm -rf "$R$release"
        mkdir -p "$R$release"
        "$PYTHON" -m venv "$R$release/venv" || die "$PYTHON -m venv failed: apt-get install python3-venv"
        set -- --quiet --disable-pip-version-check --no-input
        [ -z "$WHEELHOUSE" ] || set -- "$@" --no-index --find-links "$WHEELHOUSE"
        "$R$release/venv/bin/python" -m pip install "$@" "$SOURCE" \
            || { rm -rf "$R$release"; die "pip could not install $SOURCE"; }
        said=$("$R$release/venv/bin/kiosk" --version 2>&1) || said="(no answer)"
        [ "$said" = "kiosk $VERSION" ] \
            || { rm -rf "$R$release"; die "the installed kiosk says '$said', not 'kiosk $VERSION'"; }
        printf '{"installed_at": "%s", "source": "%s", "version": "%s"}\n' \
            "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" "$SOURCE" "$VERSION" >"$R$release/release.json"
    fi
    current=$(readlink "$R$PREFIX/current" 2>/dev/null || true)
    if [ -z "$current" ]; then
        change "point $PREFIX/current at releases/$VERSION" || return 0
        ln -s "releases/$VERSION" "$R$PREFIX/.current.$$"
        mv -T "$R$PREFIX/.current.$$" "$R$PREFIX/current"
    elif [ "$current" != "releases/$VERSION" ]; then
        say "$PREFIX/current stays at ${current#releases/}; switch safely with:" \
            "$PREFIX/current/venv/bin/kiosk update switch $VERSION"
    fi
}

install_configuration() {
    ensure_dir "$CONF_DIR" 755
    example="$CHECKOUT/config/example-branch.toml"
    if [ ! -e "$R$CONF_DIR/kiosk.toml" ]; then
        [ -f "$example" ] || die "no $example to start kiosk.toml from"
        write_new "$CONF_DIR/kiosk.toml" 640 <"$example"
        [ "$DRY_RUN" = 1 ] || own root:kiosk "$CONF_DIR/kiosk.toml"
    fi
    write_new "$CONF_DIR/environment" 600 <<'EOF'
# Secrets for /etc/library-kiosk/kiosk.toml's { env = "NAME" } entries, read by
# kiosk.service (EnvironmentFile=). Owned by root, mode 600. For example:
# KIOSK_SIP2_PASSWORD=...
# KIOSK_CENTRAL_TOKEN=...
# KIOSK_CENTRAL_CARD_KEY=...   (the library-wide key for card tokens; the same on every kiosk)
EOF
    write_new "$CONF_DIR/update-sources" 644 <<'EOF'
# Where the central API may have this kiosk install releases from, one a line: an
# https:// URL prefix or a folder (a USB stick's mount point). Empty: only a technician
# updates, with `kiosk update install|switch`. For example:
# https://updates.example.org/library-kiosk/
EOF
    ensure_dir "$DATA_DIR" 750 kiosk:kiosk
}

install_units() {
    units_changed=$CHANGES
    for unit in $UNITS; do
        install_file "$HERE/$unit" "$UNIT_DIR/$unit" 644
    done
    units_changed=$((CHANGES - units_changed))
    rules_changed=$CHANGES
    install_file "$HERE/99-library-kiosk.rules" "$RULES" 644
    # nfcpy drives the USB NFC readers itself; the kernel's driver would claim them first.
    printf '%s\n' "# Installed by the library kiosk: nfcpy drives the NFC readers itself." \
        "blacklist pn533_usb" "blacklist pn533" "blacklist nfc" >"${TMPDIR:-/tmp}/blacklist.$$"
    install_file "${TMPDIR:-/tmp}/blacklist.$$" "$BLACKLIST" 644
    rm -f "${TMPDIR:-/tmp}/blacklist.$$"
    rules_changed=$((CHANGES - rules_changed))
    if [ "$units_changed" -gt 0 ] && has_systemd && [ "$DRY_RUN" = 0 ]; then
        systemctl daemon-reload
    fi
    if [ "$rules_changed" -gt 0 ] && [ "$REAL" = 1 ] && [ "$DRY_RUN" = 0 ] \
        && command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then
        # A udev that cannot reload now picks the rules up at the next boot.
        if udevadm control --reload; then udevadm trigger --action=change || true; fi
    fi
    for unit in $ENABLED; do
        [ -L "$R$UNIT_DIR/multi-user.target.wants/$unit" ] && continue
        change "enable $unit" || continue
        systemctl_here enable --quiet "$unit"
    done
    return 0
}

do_install() {
    [ -n "$SOURCE" ] || SOURCE=$CHECKOUT
    case "$SOURCE" in /*) ;; *) SOURCE=$(pwd)/$SOURCE ;; esac
    [ -e "$SOURCE" ] || die "--source: no such file or folder: $SOURCE"
    [ -n "$VERSION" ] || VERSION=$(source_version)
    case "$VERSION" in
        "" | *[!0-9A-Za-z.+_-]*) die "cannot tell the release version of $SOURCE (--version V)" ;;
    esac
    install_packages
    install_user
    ensure_dir "$PREFIX/releases" 755
    install_release
    install_configuration
    install_units
    if [ "$DRY_RUN" = 1 ]; then
        say "$CHANGES changes to make (dry run: nothing was changed)"
    else
        say "$CHANGES changes made"
    fi
    if [ "$CHANGES" -gt 0 ]; then
        say "Next: fill in $CONF_DIR/kiosk.toml and $CONF_DIR/environment, check them with" \
            "'$PREFIX/current/venv/bin/kiosk check-config $CONF_DIR/kiosk.toml', then" \
            "'systemctl start kiosk'."
        say "Read-only root (overlay): the kiosk writes only $DATA_DIR, which must be on" \
            "persistent storage; updates also write $PREFIX (keep it persistent too, or" \
            "lift the overlay while updating)."
    fi
}

# --- uninstalling -------------------------------------------------------------------------

do_uninstall() {
    for unit in $UNITS; do
        [ -e "$R$UNIT_DIR/$unit" ] || continue
        if [ -L "$R$UNIT_DIR/multi-user.target.wants/$unit" ]; then
            change "disable $unit" && systemctl_here disable --quiet "$unit"
        fi
        if has_systemd && systemctl is-active --quiet "$unit"; then
            change "stop $unit" && systemctl stop "$unit"
        fi
        change "remove $UNIT_DIR/$unit" && rm -f "$R$UNIT_DIR/$unit"
    done
    if [ -e "$R$RULES" ]; then
        change "remove $RULES" && rm -f "$R$RULES"
    fi
    if [ -e "$R$BLACKLIST" ]; then
        change "remove $BLACKLIST" && rm -f "$R$BLACKLIST"
    fi
    if [ -e "$R$PREFIX" ]; then
        change "remove $PREFIX (every release)" && rm -rf "$R$PREFIX"
    fi
    if [ "$PURGE" = 1 ]; then
        for folder in "$CONF_DIR" "$DATA_DIR"; do
            [ -e "$R$folder" ] || continue
            change "remove $folder" && rm -rf "$R$folder"
        done
        if [ "$REAL" = 1 ] && id kiosk >/dev/null 2>&1; then
            change "remove user kiosk" && userdel kiosk
        fi
    else
        for folder in "$CONF_DIR" "$DATA_DIR"; do
            [ -e "$R$folder" ] && say "kept $folder (--purge removes it)"
        done
    fi
    if [ "$CHANGES" -gt 0 ] && has_systemd && [ "$DRY_RUN" = 0 ]; then
        systemctl daemon-reload
    fi
    if [ "$DRY_RUN" = 1 ]; then
        say "$CHANGES changes to make (dry run: nothing was changed)"
    else
        say "$CHANGES changes made"
    fi
}

if [ "$UNINSTALL" = 1 ]; then do_uninstall; else do_install; fi
