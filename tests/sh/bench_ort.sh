#!/usr/bin/env bash
# The ONNX Runtime peer of `make bench B=encode`: bench/torch_lxmert.py's ONNX export of
# tiny-vqa, run by bench/ort_lxmert.js on the fixtures' five inputs (8-26 tokens, 1-36
# regions: the free axes), reproduces the reference outputs; torch_lxmert.py compare
# accepts it and rejects a changed value; time --input reads the same records; the
# scripts' refusals.
# Needs node; the rest needs Debian's python3-torch and onnxruntime-node in
# $LX_BENCH_ORT_DIR (default ~/.cache/lx-bench/ort), as the bench does.
source "$(dirname "$0")/lib.bash"
B=$(cd "$(dirname "$0")/../../bench" && pwd)
command -v node > /dev/null || skip "node not installed"

# Without onnxruntime-node: exit 3 and how to install it.
LX_BENCH_ORT_DIR=$T/none expect_status 3 node "$B/ort_lxmert.js" --version
expect_err "onnxruntime-node not found in $T/none"
expect_err "npm install --ignore-scripts onnxruntime-node@1\.16\.3"
expect_status 2 node "$B/ort_lxmert.js" model.onnx
expect_err 'usage: ort_lxmert.js MODEL.onnx RECORDS.jsonl'
expect_status 2 node "$B/ort_lxmert.js" model.onnx in.jsonl --batch 0
expect_err "--batch: expected a positive integer, got '0'"

PY=${LX_BENCH_PYTHON:-/usr/bin/python3}
"$PY" -c 'import torch' 2> /dev/null || skip "no python3-torch (apt-get install python3-torch)"
node "$B/ort_lxmert.js" --version > "$T/ver" 2> "$T/err" || skip "$(head -1 "$T/err")"

M=$FX/models/tiny-vqa
expect_status 0 "$PY" "$B/torch_lxmert.py" onnx "$M" -o "$T/tiny.onnx"
grep -q '^onnx=.* opset=14 ' "$T/out" || fail "export said: $(cat "$T/out")"
for c in 0 1 2 3 4; do
    f=$FX/expected/inputs.case$c.safetensors
    names="input_ids token_type_ids attention_mask visual_feats visual_pos"
    [ "$c" = 2 ] && names="$names visual_attention_mask"
    # shellcheck disable=SC2086
    strec "$f" $names >> "$T/in.jsonl" || fail "strec $f"
done
expect_status 0 node "$B/ort_lxmert.js" "$T/tiny.onnx" "$T/in.jsonl" --batch 1 --threads 2 \
    --dump "$T/ort.f32"
grep -q '^ort_ms_per_record=[0-9.]* batch=1 records=5 intra_op_threads=2 ' "$T/out" ||
    fail "ort_lxmert.js said: $(cat "$T/out")"

# ONNX Runtime against the reference (HF transformers) within check's 1e-4
"$PY" - "$B" "$FX/expected" "$T/ort.f32" > "$T/cmp" << 'EOF' || { cat "$T/cmp" >&2; fail "ORT against the fixtures"; }
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import torch_lxmert
got, at, bad = np.fromfile(sys.argv[3], dtype="<f4"), 0, 0
for c in range(5):
    exp = torch_lxmert.read_safetensors(f"{sys.argv[2]}/tiny-vqa.case{c}.safetensors")
    for name in ("pooled_output", "question_answering_score"):
        x = exp[name].numpy().ravel()
        d = np.abs(got[at:at + x.size] - x)
        ok = bool((d <= 1e-4 * np.maximum(np.abs(x), 1)).all())
        print(f"case{c} {name}: max abs diff {d.max():.3g} {'ok' if ok else 'FAIL'}")
        bad += not ok
        at += x.size
if at != got.size:
    print(f"{got.size} values, expected {at}")
    bad += 1
sys.exit(1 if bad else 0)
EOF

# compare: PyTorch agrees at batch 1; one pooled_output value (tanh: at most 1) moved by
# 1e-3 is caught
expect_status 0 "$PY" "$B/torch_lxmert.py" compare "$M" "$T/in.jsonl" "$T/ort.f32" --batch 1
grep -q '^ok 5 records, max abs diff pooled_output ' "$T/out" || fail "compare said: $(cat "$T/out")"
"$PY" -c 'import numpy as np, sys; a = np.fromfile(sys.argv[1], "<f4"); a[10] += 1e-3; a.tofile(sys.argv[2])' \
    "$T/ort.f32" "$T/off.f32"
expect_status 1 "$PY" "$B/torch_lxmert.py" compare "$M" "$T/in.jsonl" "$T/off.f32" --batch 1
grep -q '^FAIL 5 records, .*; pooled_output: 1 values beyond it' "$T/out" ||
    fail "compare said: $(cat "$T/out")"
head -c 4000 "$T/ort.f32" > "$T/short.f32"
expect_status 1 "$PY" "$B/torch_lxmert.py" compare "$M" "$T/in.jsonl" "$T/short.f32" --batch 1
expect_err "short.f32: 1000 values, fewer than"

# time --input: PyTorch timed on the same records
expect_status 0 "$PY" "$B/torch_lxmert.py" time "$M" --input "$T/in.jsonl" --batch 1
grep -q '^torch_ms_per_record=[0-9.]* batch=1 records=5 ' "$T/out" || fail "time said: $(cat "$T/out")"

# A batch stacks records: different numbers of tokens are refused, naming the record.
expect_status 1 node "$B/ort_lxmert.js" "$T/tiny.onnx" "$T/in.jsonl" --batch 2
expect_err "in.jsonl: record 2: 10 tokens and 10 regions, but its batch has 8 and 36"
head -1 "$T/in.jsonl" | sed 's/"visual_feats"/"feats"/' > "$T/bad.jsonl"
expect_status 1 node "$B/ort_lxmert.js" "$T/tiny.onnx" "$T/bad.jsonl"
expect_err "bad.jsonl: record 1: expected input_ids and visual_feats"
head -1 "$T/in.jsonl" | sed 's/"visual_pos":\[\[[^],]*/"visual_pos":[[null/' > "$T/bad.jsonl"
expect_status 1 node "$B/ort_lxmert.js" "$T/tiny.onnx" "$T/bad.jsonl"
expect_err "bad.jsonl: record 1: visual_pos: null is not a number"
exit 0
