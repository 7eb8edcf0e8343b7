# Conventions every tool keeps: --help and -h (stdout, 0; 1 when it cannot be written),
# --version, usage errors (2), a missing model (1, one message), the shared parts of
# the help in the same words, a man page that names every long option --help lists.
. "$(dirname "$0")/lib.bash"
for tool in lx-tokenize lx-embed-vis lx-encode lx-vqa lx-convert lx-detect lx-show; do
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
# --threads and --batch: every man page and --help gives the limits cmd/common/cli.h
# sets, and every tool keeps them
max_threads=$(sed -n 's/^#define LX_CLI_MAX_THREADS \([0-9]*\).*/\1/p' "$LX_ROOT/cmd/common/cli.h")
max_batch=$(sed -n 's/^#define LX_CLI_MAX_BATCH \([0-9]*\).*/\1/p' "$LX_ROOT/cmd/common/cli.h")
[ -n "$max_threads" ] && [ -n "$max_batch" ] || fail "no LX_CLI_MAX_THREADS / _BATCH in cli.h"
para() { # para FILE OPTION: the man page's paragraph for .BI \-\-OPTION, without its tag
    awk -v o=".BI \\\\-\\\\-$2" 'index($0, o) == 1 { p = 1; next }
        p && /^\.(TP|SS|SH|PP)/ { exit } p' "$1"
}
for page in "$LX_ROOT"/man/lx-*.1 "$LX_ROOT/man/lx.7"; do
    for opt in threads batch; do
        text=$(para "$page" $opt)
        [ -n "$text" ] || continue
        want=$max_threads; [ $opt = batch ] && want=$max_batch
        grep -qw "$want" <<< "$text" || fail "${page##*/}: --$opt does not say at most $want: $text"
        ! grep -oE '\b[0-9]{3,}\b' <<< "$text" | grep -vqx "$want" ||
            fail "${page##*/}: --$opt gives another limit than $want: $text"
    done
done
for tool in lx-tokenize lx-embed-vis lx-encode lx-vqa lx-convert lx-detect; do
    para "$LX_ROOT/man/$tool.1" threads | grep -q . || fail "$tool.1 has no --threads"
    "$tool" --help > "$T/help"
    ! grep -oE -- '--(threads|batch) .*' "$T/help" | grep -oE '\b[0-9]{3,}\b' |
        grep -vqxE "$max_threads|$max_batch" || fail "$tool --help: a limit other than cli.h's"
    expect_status 2 "$tool" --threads $((max_threads + 1)) --help
    expect_err "^$tool: --threads: .*$max_threads"
done
for tool in lx-encode lx-vqa; do
    expect_status 2 "$tool" --batch $((max_batch + 1)) --help
    expect_err "^$tool: --batch: .*$max_batch"
    expect_status 0 "$tool" --batch "$max_batch" --threads "$max_threads" --help
done
# the optional INPUT operand: at most one; an input that cannot be opened is an error (1)
for tool in lx-tokenize lx-embed-vis lx-encode lx-vqa lx-show; do
    expect_status 2 "$tool" a b
    expect_err "^$tool: got 2 input files, expected at most one$"
done
expect_status 1 lx-tokenize --vocab "$FX/vocab/bert-base-uncased-vocab.txt" "$T/nonexistent"
expect_err "^lx-tokenize: cannot open $T/nonexistent: No such file or directory$"
# -h is --help, in every tool; help or version that cannot be written (a full disk)
# fails with a message, not quietly
for tool in lx-tokenize lx-embed-vis lx-encode lx-vqa lx-convert lx-detect lx-show; do
    expect_status 0 "$tool" -h
    "$tool" --help | cmp -s - "$T/out" || fail "$tool: -h differs from --help"
    for opt in -h --help --version; do
        "$tool" "$opt" > /dev/full 2> "$T/err"; st=$?
        [ "$st" -eq 1 ] || fail "$tool $opt > /dev/full exited $st, expected 1"
        expect_err "^$tool: write error: No space left on device$"
    done
done
# A failed write of records is reported once, and fails the run
for i in $(seq 3000); do echo '{"sent": "What color is the cat on the mat?"}'; done > "$T/many.jsonl"
lx-tokenize --vocab "$FX/vocab/bert-base-uncased-vocab.txt" < "$T/many.jsonl" > /dev/full 2> "$T/err"
st=$?; [ "$st" -eq 1 ] || fail "records > /dev/full exited $st, expected 1"
[ "$(cat "$T/err")" = "lx-tokenize: write error: No space left on device" ] ||
    fail "records > /dev/full: $(cat "$T/err")"
# The help says the shared things in the same words everywhere: the exit status, the
# environment (LX_MODEL where a model is read, LX_CPU where the network runs)
section() { # section TITLE: the paragraph of $T/out that starts with TITLE
    awk -v t="$1" 'index($0, t) == 1 { p = 1 } p && /^$/ { exit } p' "$T/out"
}
lx-encode --help > "$T/out"
section 'Exit status:' > "$T/exit.want"
grep -q '^Exit status: 0 success; 1 bad input' "$T/exit.want" || fail "lx-encode: exit status in --help"
for tool in lx-tokenize lx-embed-vis lx-encode lx-vqa lx-convert lx-detect lx-show; do
    "$tool" --help > "$T/out"
    section 'Exit status:' | cmp -s - "$T/exit.want" || fail "$tool --help: another exit status text"
    section 'Options every lx tool takes:' | grep -q -- '--skip-bad' || fail "$tool --help: shared options"
done
for tool in lx-encode lx-vqa lx-detect; do
    "$tool" --help > "$T/out"
    section 'Environment:' | tr -s ' \n' ' ' |
        grep -q 'LX_MODEL .* LX_CPU the most of the CPU to use: portable, avx2, avx512 or best' ||
        fail "$tool --help: environment"
done

# A missing model: exit 1 and one message in every tool that reads one (lx-tokenize and
# lx-convert --info name their other way too); a file that is not a model, or none
# at all, is also 1 and names the file.  lx-embed-vis needs no model.
for cmd in lx-tokenize lx-encode lx-vqa 'lx-convert --info' lx-detect; do
    tool=${cmd%% *}
    # shellcheck disable=SC2086
    expect_status 1 env -u LX_MODEL $cmd < /dev/null
    expect_err "^$tool: no model: give -m FILE or set LX_MODEL( \(or give [^)]*\))?$"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "$tool: one line expected: $(cat "$T/err")"
    # shellcheck disable=SC2086
    expect_status 1 env LX_MODEL="$LX_ROOT/README.md" $cmd < /dev/null
    expect_err "^$tool: $LX_ROOT/README.md: not an lx model file"
    # shellcheck disable=SC2086
    expect_status 1 $cmd -m "$T/missing.lxm" < /dev/null
    expect_err "^$tool: $T/missing.lxm: cannot open: No such file or directory$"
done
# A model of the other kind (the detector): exit 1 and one line saying what it is, in
# every tool that reads an LXMERT model, given with -m or $LX_MODEL
lx-convert "$FX/frcnn/models/frcnn-tiny" -o "$T/det.lxm" 2> /dev/null || fail "converting the detector"
head -n 1 "$FX/questions.jsonl" > "$T/q.jsonl"
for tool in lx-tokenize lx-encode lx-vqa lx-show; do
    expect_status 1 "$tool" -m "$T/det.lxm" "$T/q.jsonl"
    expect_err "^$tool: $T/det.lxm: is a detector \(Faster R-CNN\), expected an LXMERT model$"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "$tool: one line expected: $(cat "$T/err")"
    [ ! -s "$T/out" ] || fail "$tool: output from a model of the other kind"
    expect_status 1 env LX_MODEL="$T/det.lxm" "$tool" "$T/q.jsonl"
    expect_err "^$tool: $T/det.lxm: is a detector"
done
cp "$FX/features.tsv" "$T/f.tsv"
head -n 1 "$FX/questions.jsonl" | expect_status 0 env -u LX_MODEL lx-embed-vis --features "$T/f.tsv"
# lx-show needs a model only to spell input_ids: none is fine, a bad one is not
head -n 1 "$FX/questions.jsonl" | expect_status 0 env -u LX_MODEL lx-show
expect_status 1 env LX_MODEL="$LX_ROOT/README.md" lx-show "$T/q.jsonl"
expect_err "^lx-show: $LX_ROOT/README.md: not an lx model file"
expect_status 1 lx-show -m "$T/missing.lxm" "$T/q.jsonl"
expect_err "^lx-show: $T/missing.lxm: cannot open: No such file or directory$"

for page in lx.7 lx-stream.5 lxm.5; do
    [ -f "$LX_ROOT/man/$page" ] || fail "missing man page $page"
done
exit 0
