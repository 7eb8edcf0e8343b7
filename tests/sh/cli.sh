# Conventions every tool keeps: --help (stdout, 0), --version, usage errors (2), a man
# page that names every long option --help lists.
. "$(dirname "$0")/lib.bash"
for tool in lx-tokenize lx-embed-vis lx-encode lx-vqa lx-convert; do
    [ -x "$LX_BIN/$tool" ] || fail "$tool was not built"
    expect_status 0 "$tool" --help
    [ -s "$T/out" ] || fail "$tool --help printed nothing on stdout"
    [ ! -s "$T/err" ] || fail "$tool --help wrote to stderr"
    cp "$T/out" "$T/help"
    expect_status 0 "$tool" --version
    grep -q "^$tool [0-9]" "$T/out" || fail "$tool --version: $(cat "$T/out")"
    expect_status 2 "$tool" --no-such-option
    expect_err "^$tool: unknown option '--no-such-option'$"
    grep -q -- "--help" "$T/err" || fail "$tool: a usage error should point to --help"
    # one message a mistake, the tool's own (not getopt's as well)
    [ "$(grep -c . "$T/err")" -eq 2 ] || fail "$tool: two lines expected: $(cat "$T/err")"
    expect_status 2 "$tool" --threads
    expect_err "^$tool: option '--threads' needs an argument$"
    expect_status 2 "$tool" --progress=yes
    expect_err "^$tool: option '--progress' takes no argument$"
    expect_status 2 "$tool" -Z
    expect_err "^$tool: unknown option '-Z'$"
    man="$LX_ROOT/man/$tool.1"
    [ -f "$man" ] || fail "no man page for $tool"
    # every long option in --help is documented in the man page
    sed 's/\\//g' "$man" > "$T/man.txt"
    for opt in $(grep -oE -- '--[a-z][a-z0-9-]+' "$T/help" | sort -u); do
        grep -q -- "$opt" "$T/man.txt" || fail "$tool: $opt is in --help but not in $tool.1"
    done
done
# the optional INPUT operand: at most one; an input that cannot be opened is an error (1)
for tool in lx-tokenize lx-embed-vis lx-encode lx-vqa; do
    expect_status 2 "$tool" a b
    expect_err "^$tool: got 2 input files, expected at most one$"
done
expect_status 1 lx-tokenize --vocab "$FX/vocab/bert-base-uncased-vocab.txt" "$T/nonexistent"
expect_err "^lx-tokenize: cannot open $T/nonexistent: No such file or directory$"
for page in lx.7 lx-stream.5 lxm.5; do
    [ -f "$LX_ROOT/man/$page" ] || fail "missing man page $page"
done
exit 0
