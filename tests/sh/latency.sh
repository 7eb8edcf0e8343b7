# A filter reading a pipe answers each record as it arrives: the record's output is out
# while the writer still holds the pipe open (as jq or grep --line-buffered do), in both
# encodings, JSON arrays and --lines included.  Each record goes through a FIFO this
# script holds open; its output must appear within 10 s (it takes milliseconds; a reader
# that waits for a full window or for the end of the input never gives it).
. "$(dirname "$0")/lib.bash"
V=$FX/vocab/bert-base-uncased-vocab.txt

# start CMD...: run CMD (under timeout) reading the FIFO $T/in, which fd 3 writes to,
# its output in $T/out
start() {
    rm -f "$T/in" "$T/out"
    mkfifo "$T/in"
    timeout 60 "$@" < "$T/in" > "$T/out" 2> "$T/err" &
    pid=$!
    exec 3> "$T/in"
}
# await BYTES WHAT: wait up to 10 s for $T/out to hold at least BYTES bytes
await() {
    local i
    for i in $(seq 100); do
        [ "$(stat -c %s "$T/out")" -ge "$1" ] && return 0
        sleep 0.1
    done
    cat "$T/err" >&2
    fail "$2: $(stat -c %s "$T/out") bytes out after 10 s with the input still open, expected $1"
}
# finish WHAT: close the input; the tool ends with status 0
finish() {
    exec 3>&-
    local st=0
    wait "$pid" || st=$?
    [ "$st" -eq 0 ] || { cat "$T/err" >&2; fail "$1: exit status $st"; }
}

# lx-tokenize, record by record: each answer is out before the next record is sent
one='{"text":"a b"}'
printf '%s\n' "$one" | lx-tokenize --vocab "$V" > "$T/want1" || fail "tokenize a record"
start lx-tokenize --vocab "$V"
printf '%s\n' "$one" >&3
await "$(stat -c %s "$T/want1")" "lx-tokenize, first record"
cmp -s "$T/out" "$T/want1" || fail "lx-tokenize: first record: $(cat "$T/out")"
printf '%s\n' "$one" >&3
await $((2 * $(stat -c %s "$T/want1"))) "lx-tokenize, second record"
finish "lx-tokenize"
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "lx-tokenize: $(wc -l < "$T/out") records, expected 2"

# --lines: a line is a record
start lx-tokenize --vocab "$V" --lines
printf 'a b\n' >&3
await "$(stat -c %s "$T/want1")" "lx-tokenize --lines"
finish "lx-tokenize --lines"
cmp -s "$T/out" "$T/want1" || fail "lx-tokenize --lines: $(cat "$T/out")"

# lx-convert's stream mode, JSON lines -> binary frames
rec='{"id":1,"visual_feats":[[0.5,-1.25],[3.0,4.0]]}'
printf '%s\n' "$rec" | lx-convert -f bin > "$T/rec.bin" || fail "convert a record"
start lx-convert -f bin
printf '%s\n' "$rec" >&3
await "$(stat -c %s "$T/rec.bin")" "lx-convert, JSON -> bin"
finish "lx-convert -f bin"
cmp -s "$T/out" "$T/rec.bin" || fail "lx-convert, JSON -> bin: other bytes than from a file"

# binary frames -> JSON lines: the frame's prefix and body are read as they arrive
start lx-convert -f json
cat "$T/rec.bin" >&3
await $((${#rec} + 1)) "lx-convert, bin -> JSON"
finish "lx-convert -f json"
[ "$(cat "$T/out")" = "$rec" ] || fail "lx-convert, bin -> JSON: $(cat "$T/out")"

# the elements of a JSON array whose end has not come yet
start lx-convert -f json
printf '[%s,\n' "$rec" >&3
await $((${#rec} + 1)) "lx-convert, an element of an open JSON array"
printf '%s]\n' "$rec" >&3
finish "lx-convert, JSON array"
[ "$(cat "$T/out")" = "$rec"$'\n'"$rec" ] || fail "lx-convert, JSON array: $(cat "$T/out")"
# output that cannot be written (a full disk): the flush before waiting fails, and the
# run ends with one message and status 1 (at the next record, or at the end if that
# came first)
rm -f "$T/in"
mkfifo "$T/in"
timeout 60 lx-convert -f json < "$T/in" > /dev/full 2> "$T/err" &
pid=$!
exec 3> "$T/in"
printf '%s\n' "$rec" >&3
sleep 0.3
printf '%s\n' "$rec" >&3
exec 3>&-
st=0
wait "$pid" || st=$?
[ "$st" -eq 1 ] || fail "writing to /dev/full: exit status $st, expected 1"
[ "$(cat "$T/err")" = "lx-convert: write error: No space left on device" ] ||
    fail "writing to /dev/full: $(cat "$T/err")"
exit 0
