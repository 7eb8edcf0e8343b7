# Sourced by the shell tests: paths, a scratch directory and small assertions.
# Each test is a bash script that exits non-zero (via fail) on the first broken check.
# pipefail: `a | b | c || fail` fails when any of the three does, not only c.
set -u -o pipefail
: "${LX_BIN:?run through make check}" "${LX_FIXTURES:?}" "${LX_BUILD:?}"
FX=$LX_FIXTURES
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
PATH=$LX_BIN:$LX_BUILD/tools:$PATH
fail() { echo "FAIL: $*" >&2; exit 1; }
# skip REASON: this machine cannot run the test (an optional program is missing); run-tests
# reports it as skipped, with the reason, never as passed
skip() { echo "skipped: $*" >&2; exit 77; }
# expect_status WANT CMD...: run CMD (stdout to $T/out, stderr to $T/err), check its exit status
expect_status() {
    local want=$1; shift
    "$@" >"$T/out" 2>"$T/err"; local got=$?
    [ "$got" -eq "$want" ] || { cat "$T/err" >&2; fail "'$*' exited $got, expected $want"; }
}
# expect_err PATTERN: stderr of the last expect_status matches the extended regex
expect_err() { grep -Eq -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr does not match /$1/"; }; }
