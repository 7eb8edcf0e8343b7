# lx-convert on the detector (Faster R-CNN): the fixture from its folder, its PyTorch zip
# and its safetensors gives one file; --info, --verify, --dtype, --export-safetensors;
# bad names, configs and options of the other kind.
source "$(dirname "$0")/lib.bash"
D=$FX/frcnn/models/frcnn-tiny
# the tiny model has 30 classes and 12 attributes: that many Visual Genome names
head -n 30 "$FX/labels/vg-objects-1600.txt" > "$T/o.txt"
head -n 12 "$FX/labels/vg-attributes-400.txt" > "$T/a.txt"
names=(--objects "$T/o.txt" --attributes "$T/a.txt")

# ---- the folder, the .bin and the .safetensors: the same file --------------------------
expect_status 0 lx-convert "$D" "${names[@]}" -o "$T/det.lxm"
[ ! -s "$T/err" ] || fail "a complete conversion warned: $(cat "$T/err")"
mkdir "$T/bin" && cp "$D/pytorch_model.bin" "$D/config.yaml" "$T/bin/"
expect_status 0 lx-convert "$T/bin" "${names[@]}" -o "$T/det-bin.lxm"
cmp -s "$T/det.lxm" "$T/det-bin.lxm" || fail "pytorch_model.bin and model.safetensors differ"
expect_status 0 lx-convert "$D/model.safetensors" "${names[@]}" -o "$T/det-st.lxm"
cmp -s "$T/det.lxm" "$T/det-st.lxm" || fail "the folder and its model.safetensors differ"

# ---- --info ------------------------------------------------------------------------------
expect_status 0 lx-convert --info "$T/det.lxm"
for want in '^kind +detector \(Faster R-CNN\)$' '^architecture$' '^  num_classes +30$' \
        '^  num_attrs +12$' '^  blocks +\[3, 4, 23, 3\]$' '^  channels +\[16, 32, 64, 128\]$' \
        '^  num_anchors +12$' '^test time$' '^  min_size +96$' '^  max_size +160$' \
        '^  pre_nms_topk +200$' '^  post_nms_topk +50$' '^  min_detections +20$' \
        '^  max_detections +20$' '^  nms_thresh_test +\[0.5, 0.6, 0.7\]$' \
        '^  pixel_mean +\[102.9801, 115.9465, 122.7717\]$' '^  box_bbox_weights +\[10, 10, 5, 5\]$' \
        '^objects +30 names$' '^attributes +12 names$' '^tensors +536$' \
        '^  backbone.stem.conv1.weight +f32 +\[8, 3, 7, 7\]$' \
        '^  proposal_generator.anchor_generator.cell_anchors.0 +f32 +\[12, 4\]$'; do
    grep -Eq -- "$want" "$T/out" || fail "--info lacks /$want/"
done
! grep -q num_batches_tracked "$T/out" || fail "--info: num_batches_tracked kept"
! grep -Eq '^(vocab|labels) ' "$T/out" || fail "--info: LXMERT's lists for a detector"
expect_status 0 lx-convert --info "$FX/models/tiny-vqa/model.safetensors" -o "$T/vqa.lxm"
grep -Eq '^kind +LXMERT$' "$T/out" || fail "--info: LXMERT's kind"
expect_status 0 lx-convert --verify "$T/det.lxm"

# ---- --dtype bf16: convolutions and matrices narrowed, vectors and anchors not ---------
expect_status 0 lx-convert "$T/det.lxm" --dtype bf16 -o "$T/bf16.lxm" --info --verify
grep -Eq '^  backbone.res4.22.conv2.weight +bf16 +\[16, 16, 3, 3\]$' "$T/out" || fail "bf16 conv"
grep -Eq '^  roi_heads.box_predictor.cls_score.weight +bf16 +\[31, 128\]$' "$T/out" || fail "bf16 matrix"
grep -Eq '^  backbone.res4.22.conv2.norm.running_var +f32 +\[16\]$' "$T/out" || fail "f32 BatchNorm"
grep -Eq '^  proposal_generator.anchor_generator.cell_anchors.0 +f32 +\[12, 4\]$' "$T/out" || fail "f32 anchors"
grep -Eq '^objects +30 names$' "$T/out" || fail "names kept from a .lxm source"
grep -Eq '^  min_size +96$' "$T/out" || fail "config kept from a .lxm source"
[ "$(stat -c %s "$T/bf16.lxm")" -lt "$(stat -c %s "$T/det.lxm")" ] || fail "bf16 file is not smaller"

# ---- --export-safetensors: converted again with the same config and names, the same file
expect_status 0 lx-convert "$T/det.lxm" --export-safetensors "$T/det.st"
expect_status 0 lx-convert "$T/det.st" --config "$D/config.yaml" "${names[@]}" -o "$T/again.lxm"
cmp -s "$T/det.lxm" "$T/again.lxm" || fail "export and convert again: another file"

# ---- what the conversion goes on without: warnings -------------------------------------
mkdir "$T/alone" && cp "$D/model.safetensors" "$T/alone/"
expect_status 0 lx-convert "$T/alone" "${names[@]}" -o "$T/x.lxm" --info
expect_err "^lx-convert: warning: no config.yaml beside $T/alone: using the published frcnn-vg-finetuned test-time parameters$"
grep -Eq '^  min_size +800$' "$T/out" && grep -Eq '^  max_detections +36$' "$T/out" ||
    fail "no config.yaml: not the published test-time parameters"
expect_status 0 lx-convert "$D" -o "$T/x.lxm"
expect_err '^lx-convert: warning: no --objects: the model will have no object class names$'
expect_err '^lx-convert: warning: no --attributes: the model will have no attribute names$'
expect_status 0 lx-convert --info "$T/x.lxm"
grep -Eq '^objects +0 names$' "$T/out" || fail "no names: --info"

# ---- bad input: exit 1, the file and what is wrong, no output ---------------------------
bad() { # bad PATTERN ARGS...
    local pat=$1; shift
    expect_status 1 lx-convert "$@" -o "$T/bad.lxm"
    expect_err "$pat"
    [ ! -e "$T/bad.lxm" ] || fail "'$*' left an output file"
}
head -n 29 "$T/o.txt" > "$T/o29.txt"
bad "^lx-convert: $T/o29.txt: 29 object names, but the model has 30 object classes$" \
    "$D" --objects "$T/o29.txt" --attributes "$T/a.txt"
bad "^lx-convert: $T/o.txt: 30 attribute names, but the model has 12 attributes$" \
    "$D" --objects "$T/o.txt" --attributes "$T/o.txt"
bad "$T/none.txt: cannot open: No such file" "$D" --objects "$T/none.txt"
printf 'rpn:\n  nms_thresh: 0.7\n  nms_thresh: 0.5\n' > "$T/alone/config.yaml"
bad "^lx-convert: $T/alone/config.yaml: line 3: the key 'nms_thresh' is given twice$" "$T/alone"
printf 'input: {min_size_test: 96\n' > "$T/alone/config.yaml"
bad "^lx-convert: $T/alone/config.yaml: line 2, column 1: " "$T/alone"
printf 'rpn: {pre_nms_topk_test: !!int 12}\n' > "$T/alone/config.yaml"
bad "config.yaml: line 1: tags \(tag:yaml.org,2002:int\) are not supported" "$T/alone"
printf 'roi_heads: {num_classes: 1600}\n' > "$T/alone/config.yaml"
bad 'config.yaml: roi_heads.num_classes is 1600, but the weights have 30 object classes' "$T/alone"
bad "$T/missing.yaml: cannot open" "$D" --config "$T/missing.yaml"
# a tensor missing, another one unknown
renamed() { # the fixture with cls_score.weight renamed (same length: the header stays valid)
    sed 's/box_predictor\.cls_score\.weight/box_predictor.cls_score.wEight/' "$D/model.safetensors"
}
renamed > "$T/renamed.safetensors"
bad 'renamed.safetensors: not a Faster R-CNN checkpoint .*cls_score.weight is missing' \
    "$T/renamed.safetensors" --config "$D/config.yaml"

# ---- options of the other kind: usage errors ------------------------------------------
expect_status 2 lx-convert "$D" --vocab "$T/o.txt" -o "$T/bad.lxm"
expect_err "^lx-convert: --vocab is for LXMERT checkpoints; $D is a detector \(Faster R-CNN\)$"
expect_status 2 lx-convert "$T/det.lxm" --vocab "$T/o.txt" --labels "$T/o.txt" -o "$T/bad.lxm"
expect_err "^lx-convert: --vocab and --labels are for LXMERT checkpoints; $T/det.lxm is a detector"
expect_status 2 lx-convert "$D" --dtype int8 -o "$T/bad.lxm"
expect_err "^lx-convert: --dtype int8 is for LXMERT checkpoints; $D is a detector \(Faster R-CNN\): store it as f32, f16 or bf16$"
[ ! -e "$T/bad.lxm" ] || fail "a detector in int8 was written"
expect_status 2 lx-convert "$FX/models/tiny-vqa" --objects "$T/o.txt" -o "$T/bad.lxm"
expect_err "^lx-convert: --objects is for the detector; $FX/models/tiny-vqa is an LXMERT model$"
expect_status 2 lx-convert "$FX/models/tiny-vqa" --attributes "$T/a.txt" -o "$T/bad.lxm"
expect_err "--attributes is for the detector"
[ ! -e "$T/bad.lxm" ] || fail "a usage error left an output file"
expect_status 2 lx-convert --objects "$T/o.txt" < /dev/null
expect_err 'conversion options need a SRC checkpoint'
echo ok
