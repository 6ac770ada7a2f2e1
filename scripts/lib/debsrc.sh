# shellcheck shell=bash
# Fetch files of a Debian source package without touching the host's apt
# configuration: a private sources list, package lists and cache under
# $DEBSRC_DIR (default ${KMEMX_TOOLS:-~/.cache/kmemx/tools}/apt), on the Debian
# archive and keyring that the host's own apt sources already use.
# Sourced by scripts/build-crash and scripts/build-makedumpfile.
#
#   debsrc_setup SUITE...           private deb-src lists for SUITEs, `apt-get update`d
#   debsrc_versions PACKAGE         its versions in those suites, newest first
#   debsrc_fetch PACKAGE VERSION DIR [FILE...]
#                                   download VERSION's FILEs (default: its orig
#                                   tarball) into DIR, each checked against the
#                                   sha256 of the signed source index
#   debsrc_fetch_pool PACKAGE FILE SHA256 DIR
#                                   download a pool file no suite lists any more,
#                                   checked against a sha256 pinned by the caller
#   debsrc_release                  let other scripts use $DEBSRC_DIR
#
# The functions return 1 with a one-line reason in $DEBSRC_ERROR; apt's output
# goes to $DEBSRC_LOG (default /dev/null).  Downloads are serialised across
# scripts with a lock on $DEBSRC_DIR/lock, taken by debsrc_setup.

DEBSRC_DIR=${DEBSRC_DIR:-${KMEMX_TOOLS:-$HOME/.cache/kmemx/tools}/apt}
DEBSRC_LOG=${DEBSRC_LOG:-/dev/null}
DEBSRC_ERROR=
DEBSRC_URI=
DEBSRC_KEYRING=
DEBSRC_APT=()

_debsrc_fail() { DEBSRC_ERROR=$*; return 1; }

# The host's Debian archive: "URI<TAB>Signed-By" of the first enabled 'deb'
# entry for "<the host's codename> main" in /etc/apt/sources.list{,.d}.  The
# rule lives in tests/fixtures/archive.py, which the fixture builder's private
# apt state uses too.
_DEBSRC_ARCHIVE_PY=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tests/fixtures" && pwd)/archive.py
_debsrc_archive() { python3 "$_DEBSRC_ARCHIVE_PY" "$1"; }

_debsrc_lasterr() { grep -E '^(E|Err):' "$DEBSRC_LOG" 2>/dev/null | grep -v 'some archives' | tail -1; }

debsrc_setup() {
    [ $# -gt 0 ] || { _debsrc_fail "debsrc_setup: no suite"; return 1; }
    local archive suite codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || { _debsrc_fail "cannot read VERSION_CODENAME from /etc/os-release"; return 1; }
    archive=$(_debsrc_archive "$codename") \
        || { _debsrc_fail "no enabled 'deb' entry for '$codename main' found in /etc/apt/sources.list{,.d}"; return 1; }
    DEBSRC_URI=${archive%%$'\t'*}
    DEBSRC_URI=${DEBSRC_URI%/}
    DEBSRC_KEYRING=${archive#*$'\t'}
    [ -n "$DEBSRC_KEYRING" ] || DEBSRC_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
    mkdir -p "$DEBSRC_DIR/lists/partial" "$DEBSRC_DIR/cache/archives/partial" \
        || { _debsrc_fail "cannot create $DEBSRC_DIR"; return 1; }
    exec {DEBSRC_LOCK_FD}>"$DEBSRC_DIR/lock" || { _debsrc_fail "cannot open $DEBSRC_DIR/lock"; return 1; }
    if ! flock -n "$DEBSRC_LOCK_FD"; then
        echo "waiting for another download in $DEBSRC_DIR" >&2
        flock "$DEBSRC_LOCK_FD"
    fi
    : >"$DEBSRC_DIR/sources.list.new"
    for suite in "$@"; do
        printf 'deb-src [signed-by=%s] %s %s main\n' "$DEBSRC_KEYRING" "$DEBSRC_URI" "$suite" \
            >>"$DEBSRC_DIR/sources.list.new"
    done
    mv -f "$DEBSRC_DIR/sources.list.new" "$DEBSRC_DIR/sources.list"
    DEBSRC_APT=(-o "Dir::Etc::SourceList=$DEBSRC_DIR/sources.list"
                -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$DEBSRC_DIR/lists"
                -o "Dir::Cache=$DEBSRC_DIR/cache"
                -o "APT::Sandbox::User=$(id -un)")
    apt-get "${DEBSRC_APT[@]}" update >>"$DEBSRC_LOG" 2>&1 \
        || { _debsrc_fail "apt-get update of the $* source indexes failed: $(_debsrc_lasterr)"; return 1; }
}

debsrc_release() {
    if [ -n "${DEBSRC_LOCK_FD:-}" ]; then
        exec {DEBSRC_LOCK_FD}>&-
        DEBSRC_LOCK_FD=
    fi
}

_debsrc_showsrc() { apt-cache "${DEBSRC_APT[@]}" showsrc "$1" 2>>"$DEBSRC_LOG"; }

debsrc_versions() {
    _debsrc_showsrc "$1" | awk '$1 == "Version:" {print $2}' | sort -urV
}

# The sha256 of FILE in the index stanza of PACKAGE VERSION.
_debsrc_sha256() {
    _debsrc_showsrc "$1" | awk -v v="$2" -v f="$3" '
        /^Package:/ {inpkg = 0}
        $1 == "Version:" {inpkg = ($2 == v)}
        /^Checksums-Sha256:/ {s = inpkg; next}
        /^[^ ]/ {s = 0}
        s && $3 == f {print $1; exit}'
}

# "1:1.7.6-1" -> "1.7.6"
debsrc_upstream() { local v=${1#*:}; echo "${v%-*}"; }

debsrc_fetch() {
    local pkg=$1 ver=$2 dir=$3 f sha
    shift 3
    local files=("$@")
    [ ${#files[@]} -gt 0 ] || files=("${pkg}_$(debsrc_upstream "$ver").orig.tar."{gz,xz,bz2})
    mkdir -p "$dir" || { _debsrc_fail "cannot create $dir"; return 1; }
    # apt-get fails as a whole when one file is missing from the archive; what
    # counts is that the files asked for are there and match the index.
    (cd "$dir" && apt-get "${DEBSRC_APT[@]}" source --download-only "$pkg=$ver") \
        >>"$DEBSRC_LOG" 2>&1 || true
    local got=0
    for f in "${files[@]}"; do
        [ -f "$dir/$f" ] || continue
        sha=$(_debsrc_sha256 "$pkg" "$ver" "$f")
        [ -n "$sha" ] || { _debsrc_fail "$f is not in the source index of $pkg $ver"; return 1; }
        echo "$sha  $dir/$f" | sha256sum -c --quiet - >>"$DEBSRC_LOG" 2>&1 \
            || { rm -f "$dir/$f"; _debsrc_fail "$f does not match the sha256 of the source index"; return 1; }
        got=$((got + 1))
    done
    if [ "$got" -eq 0 ] || { [ $# -gt 0 ] && [ "$got" -ne $# ]; }; then
        _debsrc_fail "could not download ${files[0]} of $pkg $ver: $(_debsrc_lasterr)"
        return 1
    fi
}

debsrc_fetch_pool() {
    local pkg=$1 file=$2 sha=$3 dir=$4 prefix
    case $pkg in lib?*) prefix=${pkg:0:4} ;; *) prefix=${pkg:0:1} ;; esac
    [ -n "$DEBSRC_URI" ] || { _debsrc_fail "debsrc_setup was not run"; return 1; }
    mkdir -p "$dir" || { _debsrc_fail "cannot create $dir"; return 1; }
    /usr/lib/apt/apt-helper "${DEBSRC_APT[@]}" download-file \
        "$DEBSRC_URI/pool/main/$prefix/$pkg/$file" "$dir/$file" "SHA256:$sha" >>"$DEBSRC_LOG" 2>&1 \
        || { rm -f "$dir/$file"; _debsrc_fail "could not download $file from the archive's pool: $(_debsrc_lasterr)"; return 1; }
}
