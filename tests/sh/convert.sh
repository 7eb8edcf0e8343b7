# lx-convert: every fixture converts to the expected tensors (byte for byte through
# --export-safetensors), inspection, and clear errors (exit 1) or usage errors (exit 2).
source "$(dirname "$0")/lib.bash"
M=$FX/models
VQA=$FX/expected/weights.tiny-vqa.safetensors
PRE=$FX/expected/weights.tiny-pretrain.safetensors

# ---- every fixture, every format, the same tensors ------------------------------------
conv() { # conv SRC EXPECTED [options...]
    local src=$1 want=$2; shift 2
    expect_status 0 lx-convert "$src" -o "$T/m.lxm" --export-safetensors "$T/m.st" "$@"
    cmp -s "$T/m.st" "$want" || fail "$src: exported tensors differ from $want"
}
conv "$M/tiny-vqa" "$VQA" --labels "$FX/labels/vqa-label2ans.json"
conv "$M/tiny-vqa/model-bf16.safetensors" "$VQA"
conv "$M/tiny-vqa-torchzip" "$VQA"
conv "$M/tiny-original/BEST.pth" "$VQA" --vocab "$FX/vocab/bert-base-uncased-vocab.txt"
conv "$M/tiny-pretrain" "$PRE"
conv "$M/tiny-original/model_LXRT.pth" "$PRE"
conv "$M/tiny-pretrain/pytorch_model.bin" "$PRE" --labels "$FX/labels/lxmert-all-ans.json"
# f16 holds the f32 values rounded to f16: its export (no -o) holds the source's data
# (the headers differ only in the source's __metadata__)
st_data() { # the data bytes of a safetensors file
    local h; h=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    tail -c +$((h + 9)) "$1"
}
for f in model-f16 model-bf16 model; do
    expect_status 0 lx-convert "$M/tiny-vqa/$f.safetensors" --export-safetensors "$T/x.st"
    cmp -s <(st_data "$T/x.st") <(st_data "$M/tiny-vqa/$f.safetensors") || fail "$f: export is not the source"
done
expect_status 0 lx-convert "$M/tiny-vqa/model-f16.safetensors" -o "$T/h.lxm" --verify

# ---- a model larger than the writer's 8 MB pieces ---------------------------------------
# ~31 MB with a 17 MB tensor: the writer flushes at several 8 MB boundaries and writes a
# whole aligned piece straight from the source; every tensor must come back byte for
# byte, and converting the .lxm again must give the same file.
expect_status 0 randmodel --preset tiny --hidden 256 --attention-heads 4 --intermediate 1024 \
    --vocab 17000 --layers 1,1,1 --labels 10 -o "$T/big"
expect_status 0 lx-convert "$T/big" -o "$T/big.lxm" --export-safetensors "$T/big.st" --verify
[ "$(stat -c %s "$T/big.lxm")" -gt $((24 << 20)) ] || fail "the large model is not large"
cmp -s <(st_data "$T/big.st") <(st_data "$T/big/model.safetensors") || fail "large model: export is not the source"
expect_status 0 lx-convert "$T/big.lxm" -o "$T/big2.lxm"
cmp -s "$T/big.lxm" "$T/big2.lxm" || fail "large model: .lxm -> .lxm is not the same file"
# each attention's query, key and value weights lie back to back (then their biases), so
# the network can run them as one product; the header keeps HF's order
hl=$(od -An -tu8 -j16 -N8 "$T/big.lxm" | tr -d ' ') # lxm(5): u64 header length at 16
head -c $((40 + hl)) "$T/big.lxm" | tail -c "$hl" > "$T/hdr"
off() { # off NAME: the tensor's data offset in the header's table
    grep -o "\"name\":\"$1\",[^}]*\"offset\":[0-9]*" "$T/hdr" | grep -o '"offset":[0-9]*' | cut -d: -f2
}
p=lxmert.encoder.layer.0.attention.self
q=$(off "$p.query.weight") k=$(off "$p.key.weight") v=$(off "$p.value.weight")
qb=$(off "$p.query.bias") kb=$(off "$p.key.bias")
[ -n "$q" ] && [ -n "$k" ] && [ -n "$v" ] || fail "layout: offsets not found in the header"
[ $((k - q)) -eq $((256 * 256 * 4)) ] && [ $((v - k)) -eq $((256 * 256 * 4)) ] ||
    fail "layout: query/key/value weights at $q, $k, $v: not back to back"
[ $((qb - v)) -eq $((256 * 256 * 4)) ] && [ $((kb - qb)) -eq $((256 * 4)) ] ||
    fail "layout: biases at $qb, $kb do not follow the weights"
rm -rf "$T/big" "$T/big.lxm" "$T/big2.lxm" "$T/big.st"

# ---- --info and --verify ---------------------------------------------------------------
expect_status 0 lx-convert "$M/tiny-vqa" -o "$T/vqa.lxm" --labels "$FX/labels/vqa-label2ans.json"
expect_status 0 lx-convert --info "$T/vqa.lxm"
grep -Eq '^vocab +30522 tokens' "$T/out" || fail "--info: vocab count"
grep -Eq '^labels +3129 answers' "$T/out" || fail "--info: label count"
grep -Eq '^tensors +153$' "$T/out" || fail "--info: tensor count"
grep -Eq '^  hidden_size +48$' "$T/out" || fail "--info: config"
grep -Eq '^  lxmert.encoder.visn_fc.visn_fc.weight +f32 +\[48, 2048\]$' "$T/out" || fail "--info: tensor line"
grep -Eq '^total +2018729 parameters, 8074916 bytes' "$T/out" || fail "--info: total"
expect_status 0 lx-convert --verify "$T/vqa.lxm"
LX_MODEL=$T/vqa.lxm expect_status 0 lx-convert --verify
expect_status 0 lx-convert --info -m "$T/vqa.lxm"

expect_status 0 lx-convert "$M/tiny-original/model_LXRT.pth" -o "$T/pre.lxm" --info
grep -Eq '^  cls.predictions.decoder.weight +tied to lxmert.embeddings.word_embeddings.weight$' "$T/out" \
    || fail "--info: tied decoder"
grep -Eq '^  num_qa_labels +9500$' "$T/out" || fail "--info: 9500 answers"
# BEST.pth: the config says 9500 answers, the fine-tuned head has 3129
expect_status 0 lx-convert "$M/tiny-original/BEST.pth" -o "$T/best.lxm" --info \
    --labels "$FX/labels/vqa-label2ans.json"
grep -Eq '^  num_qa_labels +3129$' "$T/out" || fail "BEST.pth: answers from the head"
grep -Eq '^labels +3129 answers' "$T/out" || fail "BEST.pth: labels"

# ---- stored dtypes, and a .lxm as the source -------------------------------------------
expect_status 0 lx-convert "$T/vqa.lxm" --dtype bf16 -o "$T/b.lxm" --info
grep -Eq '^  lxmert.encoder.visn_fc.visn_fc.weight +bf16 +\[48, 2048\]$' "$T/out" || fail "bf16 matrix"
grep -Eq '^  lxmert.encoder.visn_fc.visn_fc.bias +f32 +\[48\]$' "$T/out" || fail "f32 vector"
grep -Eq '^labels +3129 answers' "$T/out" || fail "labels kept from a .lxm source"
[ "$(stat -c %s "$T/b.lxm")" -lt "$(stat -c %s "$T/vqa.lxm")" ] || fail "bf16 file is not smaller"
conv "$T/b.lxm" "$VQA"   # the fixture is exact in bf16: back to f32, the same tensors
expect_status 0 lx-convert "$T/vqa.lxm" --dtype f16 -o "$T/h.lxm" --verify
# int8: the encoder layers' Linear weights in i8 with f32 row scales after them, all else f32;
# about a third of the f32 file at the base size (a little under it at this tiny size,
# where the embeddings are most of the file)
expect_status 0 lx-convert "$T/vqa.lxm" --dtype int8 -o "$T/q.lxm" --info --verify
grep -Eq '^  lxmert.encoder.layer.0.attention.self.query.weight +i8 +\[48, 48\]$' "$T/out" \
    || fail "int8 matrix"
grep -A1 -E '^  lxmert.encoder.x_layers.1.visn_output.dense.weight +i8 +\[48, 80\]$' "$T/out" \
    | grep -Eq '^  lxmert.encoder.x_layers.1.visn_output.dense.weight_scale +f32 +\[48\]$' \
    || fail "int8 scales after their matrix"
grep -Eq '^  lxmert.encoder.visn_fc.visn_fc.weight +f32 +\[48, 2048\]$' "$T/out" || fail "visn_fc f32"
grep -Eq '^  lxmert.pooler.dense.weight +f32 +\[48, 48\]$' "$T/out" || fail "pooler f32"
grep -Eq '^  answer_head.logit_fc.3.weight +f32 +\[3129, 96\]$' "$T/out" || fail "QA head f32"
grep -Eq '^  lxmert.embeddings.word_embeddings.weight +f32 ' "$T/out" || fail "embeddings f32"
[ "$(grep -c ' i8 ' "$T/out")" -eq 50 ] || fail "int8 matrices: $(grep -c ' i8 ' "$T/out"), expected 50"
[ "$(stat -c %s "$T/q.lxm")" -lt "$(stat -c %s "$T/vqa.lxm")" ] || fail "int8 file is not smaller"
# an int8 model stored again: int8 as it is (exported, the same tensors); any other dtype
# is refused (the weights' f32 values are gone)
expect_status 0 lx-convert "$T/q.lxm" --export-safetensors "$T/q.st"
expect_status 0 lx-convert "$T/q.lxm" --dtype int8 -o "$T/q2.lxm" --export-safetensors "$T/q2.st"
cmp -s "$T/q.st" "$T/q2.st" || fail "int8 stored again changed"
expect_status 1 lx-convert "$T/q.lxm" -o "$T/q3.lxm"
expect_err "query.weight' is stored in int8, which cannot be stored as f32"
[ ! -e "$T/q3.lxm" ] || fail "refused int8 -> f32 left a file"
# its export converts back to the same model (safetensors carries I8)
expect_status 0 lx-convert "$T/q.st" --config "$M/tiny-vqa/config.json" --dtype int8 -o "$T/q4.lxm" \
    --export-safetensors "$T/q4.st"
cmp -s "$T/q.st" "$T/q4.st" || fail "int8 through safetensors changed"
printf '{"layer_norm_eps": 1e-5, "do_lower_case": false}' > "$T/over.json"
expect_status 0 lx-convert "$T/vqa.lxm" --config "$T/over.json" -o "$T/h.lxm" --info
grep -Eq '^  layer_norm_eps +1e-05$' "$T/out" && grep -Eq '^  do_lower_case +false$' "$T/out" \
    || fail "--config over a .lxm source"

# ---- bad input: exit 1, a message, no output file ---------------------------------------
bad() { # bad PATTERN ARGS...: exit 1, stderr matches, no $T/bad.lxm left
    local pat=$1; shift
    expect_status 1 lx-convert "$@"
    expect_err "$pat"
    [ ! -e "$T/bad.lxm" ] || fail "'$*' left an output file"
    ! ls "$T"/bad.lxm.tmp* >/dev/null 2>&1 || fail "'$*' left a temporary file"
}
bad 'No such file' "$T/nope" -o "$T/bad.lxm"
bad '3129 answers, but the QA head has 9500' "$M/tiny-pretrain" -o "$T/bad.lxm" \
    --labels "$FX/labels/vqa-label2ans.json"
bad 'vocab.txt: not valid JSON' "$M/tiny-vqa" -o "$T/bad.lxm" --labels "$M/tiny-vqa/vocab.txt"
sed 's/"hidden_size": 48/"hidden_size": 64/' "$M/tiny-vqa/config.json" > "$T/config.json"
bad 'got shape \[30522, 48\], expected \[30522, 64\]' "$M/tiny-vqa" -o "$T/bad.lxm" --config "$T/config.json"
printf '{"hidden_size": "48"}' > "$T/config.json"
bad 'hidden_size: expected a non-negative integer' "$M/tiny-vqa" -o "$T/bad.lxm" --config "$T/config.json"
# a bad value in --config is blamed on the config file, not on the weights; a config the
# weights do not fit names both
sed 's/"num_attention_heads": [0-9]*/"num_attention_heads": 5/' "$M/tiny-vqa/config.json" > "$T/config.json"
for src in "$M/tiny-vqa" "$T/vqa.lxm"; do
    bad "^lx-convert: $T/config.json: config: hidden_size 48 is not a multiple of num_attention_heads 5\$" \
        "$src" -o "$T/bad.lxm" --config "$T/config.json"
done
sed 's/"hidden_size": 48/"hidden_size": 64/' "$M/tiny-vqa/config.json" > "$T/config.json"
bad "^lx-convert: $T/vqa.lxm with the config $T/config.json: .*got shape \[30522, 48\], expected \[30522, 64\]" \
    "$T/vqa.lxm" -o "$T/bad.lxm" --config "$T/config.json"
mkdir "$T/sidecfg" && cp "$M/tiny-vqa/model.safetensors" "$T/sidecfg/"
printf '{"hidden_size": 0}' > "$T/sidecfg/config.json"
bad "^lx-convert: $T/sidecfg/config.json: config: hidden_size" "$T/sidecfg" -o "$T/bad.lxm"
rm -r "$T/config.json" "$T/sidecfg"
head -n 100 "$FX/vocab/bert-base-uncased-vocab.txt" > "$T/vocab.txt"
bad '100 tokens, but the model.s vocab_size is 30522' "$M/tiny-vqa" -o "$T/bad.lxm" --vocab "$T/vocab.txt"
# no config: LXMERT-base, which the tiny weights do not fit
mkdir "$T/alone" && cp "$M/tiny-vqa/model.safetensors" "$T/alone/"
bad 'backbone: .* missing' "$T/alone/model.safetensors" -o "$T/bad.lxm"
expect_err 'using the LXMERT-base config'
# a tensor that is not LXMERT's
hdr='{"optimizer.step":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
{ printf "\\x$(printf %02x ${#hdr})\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; printf '%s' "$hdr"; printf '\x00\x00\x80\x3f'; } \
    > "$T/alone/odd.safetensors"
bad '1 unknown tensor.*optimizer.step.*--ignore-unknown' "$T/alone/odd.safetensors" -o "$T/bad.lxm"
bad 'backbone: ' "$T/alone/odd.safetensors" -o "$T/bad.lxm" --ignore-unknown
# a TensorFlow-only folder
mkdir "$T/tf" && : > "$T/tf/tf_model.h5" && cp "$M/tiny-vqa/config.json" "$T/tf/"
bad 'tf_model.h5.*not read|TensorFlow' "$T/tf" -o "$T/bad.lxm"
# hostile files: a pickle calling os.system, a zip with no central directory, truncations
printf '\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.' > "$T/evil.bin"
bad 'os.system is not allowed.*nothing was executed' "$T/evil.bin" -o "$T/bad.lxm"
printf 'PK\x03\x04garbage that is not a zip archive at all' > "$T/zip.bin"
bad 'zip' "$T/zip.bin" -o "$T/bad.lxm"
for n in 7 8 100 20000 4000000; do
    head -c $n "$M/tiny-vqa/model.safetensors" > "$T/cut.safetensors"
    bad 'cut.safetensors' "$T/cut.safetensors" -o "$T/bad.lxm" --config "$M/tiny-vqa/config.json"
    head -c $n "$M/tiny-pretrain/pytorch_model.bin" > "$T/cut.bin"
    bad 'cut.bin' "$T/cut.bin" -o "$T/bad.lxm" --config "$M/tiny-vqa/config.json"
    head -c $n "$M/tiny-vqa-torchzip/pytorch_model.bin" > "$T/cutz.bin"
    bad 'cutz.bin' "$T/cutz.bin" -o "$T/bad.lxm" --config "$M/tiny-vqa/config.json"
    head -c $n "$T/vqa.lxm" > "$T/cut.lxm"
    expect_status 1 lx-convert --info "$T/cut.lxm"
done
expect_err 'truncated'
# a flipped data byte: --info still works (header only), --verify names the tensor
cp "$T/vqa.lxm" "$T/flip.lxm"
printf '\xff' | dd of="$T/flip.lxm" bs=1 seek=1000000 conv=notrunc 2>/dev/null
expect_status 0 lx-convert --info "$T/flip.lxm"
expect_status 1 lx-convert --verify "$T/flip.lxm"
expect_err "lxmert.embeddings.word_embeddings.weight.*CRC"
# the output cannot be written: nothing left behind
bad 'write|No such file' "$M/tiny-vqa" -o "$T/no/such/dir/bad.lxm"

# ---- usage errors: exit 2 --------------------------------------------------------------
expect_status 2 lx-convert "$M/tiny-vqa" -o "$T/x.lxm" --dtype f64
expect_err "--dtype: 'f64' is not f32, f16, bf16 or int8"
expect_status 2 lx-convert -o "$T/x.lxm"
expect_status 2 lx-convert "$M/tiny-vqa"
expect_err 'nothing to do'
expect_status 1 lx-convert "$M/tiny-vqa/model.safetensors" --info
expect_err 'not an lx model file'
expect_status 2 lx-convert a b
expect_status 2 lx-convert --bogus
expect_status 1 lx-convert --info
expect_err "^lx-convert: no model: give -m FILE or set LX_MODEL"
expect_status 2 lx-convert "$M/tiny-vqa" -o "$T/x.lxm" -f bin
expect_status 0 lx-convert --help
grep -q -- '--export-safetensors' "$T/out" || fail "--help lacks --export-safetensors"
expect_status 0 lx-convert --version
grep -Eq '^lx-convert [0-9]' "$T/out" || fail "--version"
# --help and the man page document the same options
for opt in $(lx-convert --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -q -- "$(printf '%s' "$opt" | sed 's/-/\\\\-/g')" "$LX_ROOT/man/lx-convert.1" \
        || fail "man page lacks $opt"
done

# an output that is not a regular file (a FIFO here; /dev/null in real life) is refused,
# never renamed over
mkfifo "$T/fifo"
expect_status 1 lx-convert "$FX/models/tiny-vqa" -o "$T/fifo"
expect_err 'not a regular file'
[ -p "$T/fifo" ] || fail "lx-convert replaced a FIFO with a regular file"

# ---- stream conversion: JSON lines <-> binary frames -----------------------------------
expect_status 0 lx-convert < "$FX/cases.jsonl"
cp "$T/out" "$T/cases.bin"
[ "$(head -c 1 "$T/cases.bin")" != "{" ] || fail "stream mode: JSON input did not become frames"
expect_status 0 lx-convert < "$T/cases.bin"
cp "$T/out" "$T/a.jsonl"
expect_status 0 lx-convert -f bin < "$T/a.jsonl"
cmp -s "$T/out" "$T/cases.bin" || fail "stream mode: frames differ after a round trip"
expect_status 0 lx-convert -f json < "$T/a.jsonl"
cmp -s "$T/out" "$T/a.jsonl" || fail "stream mode: -f json of JSON changed it"
[ "$(wc -l < "$T/a.jsonl")" -eq "$(grep -c . "$FX/cases.jsonl")" ] || fail "stream mode: record count"
expect_status 0 lx-convert < /dev/null
[ ! -s "$T/out" ] || fail "stream mode: output for empty input"
printf '{"a": 1}\n{"a": ]}\n{"a": 3}\n' > "$T/bad.jsonl"
expect_status 1 lx-convert -f json < "$T/bad.jsonl"
expect_err '<stdin>:record 2'
[ "$(cat "$T/out")" = '{"a": 1}' ] || [ "$(wc -l < "$T/out")" -eq 1 ] || fail "record before the bad one not written"
expect_status 0 lx-convert -f json --skip-bad < "$T/bad.jsonl"
expect_err '<stdin>:record 2' 
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "--skip-bad: expected two records"
echo ok
