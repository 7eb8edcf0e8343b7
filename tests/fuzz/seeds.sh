#!/usr/bin/env bash
# Make the seed corpora of the fuzz targets in tests/fuzz/corpus/NAME/ from the project's
# own tools (randmodel, lx-convert, mktorch, mktsv, drawshapes, lx-tokenize) and the
# hand-made inputs of mkseeds.  Run from the top of the tree after `make all` and the
# test tools are built (make check builds them); the output is deterministic, and what
# it writes is what is committed.  Seeds are kept to a few KB: libFuzzer runs fastest
# on small inputs and mutates from there.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${LX_BUILD:-build}
BIN=${LX_BIN:-bin}
C=tests/fuzz/corpus
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$C"
make -s "$B/fuzz/mkseeds"
"$B/fuzz/mkseeds" "$C"

# a tiny LXMERT (4 wide, one layer of each kind, a QA head) as a folder and a .lxm
"$B/tools/randmodel" --preset tiny --hidden 4 --attention-heads 1 --intermediate 4 \
    --layers 1,1,1 --positions 8 --vocab 110 --labels 3 --feat-dim 4 --heads qa -o "$t/m"
mkdir -p "$C/lxm" "$C/lines" "$C/labels" "$C/yaml" "$C/torch" "$C/zip" "$C/pickle" "$C/image" "$C/stream"
"$BIN/lx-convert" "$t/m" -o "$C/lxm/lxmert-f16.lxm" --dtype f16
"$BIN/lx-convert" "$t/m" -o "$C/lxm/lxmert-int8.lxm" --dtype int8
cp "$t/m/vocab.txt" "$C/lines/randmodel-vocab"
cp "$t/m/label2ans.json" "$C/labels/randmodel-label2ans"
# the detector's config.yaml and name lists
"$B/tools/randmodel" --preset detector --feat-dim 8 -o "$t/d"
cp "$t/d/config.yaml" "$C/yaml/randmodel-detector"
cp "$t/d/objects_vocab.txt" "$C/lines/randmodel-objects"

# PyTorch checkpoints of the small safetensors seed: zip, deflated zip, legacy
"$B/tools/mktorch" "$C/safetensors/dtypes" "$C/torch/zip.bin"
"$B/tools/mktorch" --deflate "$C/safetensors/dtypes" "$C/torch/zip-deflate.bin"
"$B/tools/mktorch" --legacy "$C/safetensors/dtypes" "$C/torch/legacy.bin"
cp "$C/torch/zip.bin" "$C/zip/torch.zip"
cp "$C/torch/zip-deflate.bin" "$C/zip/torch-deflate.zip"
cp "$C/torch/legacy.bin" "$C/pickle/legacy-torch"

# feature lines, both layouts
"$B/tools/mktsv" -n 1 -b 2 -d 3 -s 5 | tr -d '\n' > "$C/tsv/mktsv-10"
"$B/tools/mktsv" -n 1 -b 1 -d 2 -l 6 -s 6 | tr -d '\n' > "$C/tsv/mktsv-6"
# feature files, both layouts, a blank line and CRLF
mkdir -p "$C/features"
"$B/tools/mktsv" -n 3 -b 2 -d 3 -s 7 > "$C/features/mktsv-10"
{ "$B/tools/mktsv" -n 2 -b 1 -d 2 -l 6 -s 8; echo; } | sed 's/$/\r/' > "$C/features/mktsv-6-crlf"

# pictures
"$B/tools/drawshapes" -W 9 -H 7 -n 2 -s 3 "$C/image/shapes.png"
"$B/tools/drawshapes" -W 1 -H 1 -n 0 "$C/image/pixel.png"

# records as the tools write them: tokenized questions, JSON and frames
printf '{"question":"What is the man holding?","question_id":3}\n{"question":"red or blue","img_id":"x"}\n' |
    "$BIN/lx-tokenize" --vocab "$t/m/vocab.txt" --tokens > "$C/stream/tokenized.jsonl"
"$BIN/lx-tokenize" --vocab "$t/m/vocab.txt" -f bin < "$C/stream/tokenized.jsonl" > "$C/stream/tokenized.bin"
rm -f "$C/.tmp.safetensors"
du -sh "$C"/*
