# lx-embed-vis: the join against both fixture layouts, --dump and --regions, the index
# (stale, unwritable, split reads), missing images and every kind of bad TSV line.
# The fixture TSVs are copied into $T so that their indexes are written there.
. "$(dirname "$0")/lib.bash"

cp "$FX/features.tsv" "$FX/features-butd.tsv" "$T/"
Q=$FX/questions.jsonl

# 10-field join: every record keeps its fields and gains visual_feats, visual_pos
expect_status 0 lx-embed-vis --features "$T/features.tsv" -f json "$Q"
cp "$T/out" "$T/lx.jsonl"
[ "$(wc -l < "$T/lx.jsonl")" -eq 7 ] || fail "expected 7 records"
[ -s "$T/features.tsv.lxi" ] || fail "no index written beside the TSV"
grep -q '^{"question_id":1000,"img_id":"COCO_val2014_000000000000","sent":"What color is the cat?","label":{"court":1.0,"baseball":0.3},"visual_feats":\[\[' "$T/lx.jsonl" \
    || fail "fields not passed through in order"
# region counts 36, 10, 1, 36, 20, 5, 36 (rows of visual_pos)
rows=$(sed -E 's/.*"visual_pos":\[(.*)\]\}$/\1/' "$T/lx.jsonl" | awk -F'\\],\\[' '{printf "%d ", NF}')
[ "$rows" = "36 10 1 36 20 5 36 " ] || fail "region counts: $rows"

# binary output (the default) holds the same values
lx-embed-vis --features "$T/features.tsv" < "$Q" > "$T/lx.bin" || fail "binary join"
head -c 4 "$T/lx.bin" | grep -q LXRF || fail "default output is not binary frames"
reccmp "$T/lx.jsonl" "$T/lx.bin" || fail "JSON and binary joins differ"

# 6-field layout, integer ids 0..5 under image_id: the same visual_feats and visual_pos
sed -E 's/"img_id": "COCO_val2014_0*([0-9]+)"/"image_id": \1/' "$Q" > "$T/q-int.jsonl"
lx-embed-vis --key image_id --features "$T/features-butd.tsv" "$T/q-int.jsonl" > "$T/butd.bin" \
    || fail "6-field join"
reccmp --fields visual_feats,visual_pos "$T/lx.bin" "$T/butd.bin" || fail "6-field join differs"
# image_id is also found without --key; a string "3" matches integer id 3
lx-embed-vis --features "$T/features-butd.tsv" "$T/q-int.jsonl" > "$T/butd2.bin" || fail "image_id by default"
reccmp "$T/butd.bin" "$T/butd2.bin" || fail "image_id without --key"
sed -E 's/"image_id": ([0-9]+)/"image_id": "\1"/' "$T/q-int.jsonl" > "$T/q-str.jsonl"
lx-embed-vis --features "$T/features-butd.tsv" "$T/q-str.jsonl" > "$T/butd3.bin" || fail "string ids"
reccmp --fields visual_feats,visual_pos "$T/butd.bin" "$T/butd3.bin" || fail "\"3\" and 3 differ"
echo '{"image_id": 3.0}' > "$T/real.jsonl"
expect_status 1 lx-embed-vis --features "$T/features-butd.tsv" "$T/real.jsonl"
expect_err 'record 1: image_id: image id is a real number, expected a string or an integer'
expect_status 1 lx-embed-vis --objects --features "$T/features-butd.tsv" "$T/q-int.jsonl"
expect_err 'no objects_id'

# --objects, --max-boxes
lx-embed-vis --objects --max-boxes 10 --features "$T/features.tsv" -f json "$Q" > "$T/obj.jsonl" || fail "--objects"
grep -q '"objects_id":\[[0-9]' "$T/obj.jsonl" && grep -q '"attrs_conf":\[' "$T/obj.jsonl" || fail "no objects fields"
rows=$(sed -E 's/.*"visual_pos":\[(.*)\],"objects_id".*/\1/' "$T/obj.jsonl" | awk -F'\\],\\[' '{printf "%d ", NF}')
[ "$rows" = "10 10 1 10 10 5 10 " ] || fail "--max-boxes 10 counts: $rows"

# --dump writes the TSV as regions records; joining against them gives the same bits;
# a read buffer of 7 bytes (every line split across reads) changes nothing
lx-embed-vis --dump --features "$T/features.tsv" > "$T/regions.bin" || fail "--dump"
lx-embed-vis --dump --buffer-size 7 --features "$T/features.tsv" > "$T/regions7.bin" || fail "--dump small buffer"
cmp -s "$T/regions.bin" "$T/regions7.bin" || fail "split reads changed the dump"
lx-embed-vis --regions "$T/regions.bin" "$Q" > "$T/viaregions.bin" || fail "--regions"
reccmp "$T/lx.bin" "$T/viaregions.bin" || fail "join via --regions differs"
lx-embed-vis --regions - "$Q" < "$T/regions.bin" > "$T/viastdin.bin" || fail "--regions -"
reccmp "$T/lx.bin" "$T/viastdin.bin" || fail "join via --regions - differs"
lx-convert -f json < "$T/regions.bin" > "$T/regions.jsonl" 2>/dev/null && {
    lx-embed-vis --regions "$T/regions.jsonl" "$Q" > "$T/viajson.bin" || fail "--regions JSON"
    reccmp "$T/lx.bin" "$T/viajson.bin" || fail "join via JSON regions differs"
}
# a 6-field dump has integer img_ids, which integer image_ids find
lx-embed-vis --dump --features "$T/features-butd.tsv" > "$T/regions-butd.bin" || fail "6-field --dump"
lx-embed-vis --regions "$T/regions-butd.bin" "$T/q-int.jsonl" > "$T/viabutd.bin" || fail "6-field regions join"
reccmp "$T/butd.bin" "$T/viabutd.bin" || fail "join via 6-field regions differs"

# regions as a JSON array (held in memory) and bad regions records
if [ -s "$T/regions.jsonl" ]; then
    { echo '['; sed '$!s/$/,/' "$T/regions.jsonl"; echo ']'; } > "$T/regions-array.json"
    lx-embed-vis --regions "$T/regions-array.json" "$Q" > "$T/viaarray.bin" || fail "--regions JSON array"
    reccmp "$T/lx.bin" "$T/viaarray.bin" || fail "join via a JSON array of regions differs"
fi
printf '%s\n' '{"img_id":"a","img_h":10,"img_w":10,"boxes":[[0,0,10,10]],"features":[[1.0,2.0]]}' \
    '{"img_id":"b","img_h":10,"img_w":10,"boxes":[[0,0,11,5]],"features":[[1.0,2.0]]}' > "$T/badreg.jsonl"
expect_status 1 lx-embed-vis --regions "$T/badreg.jsonl" "$Q"
expect_err "^lx-embed-vis: $T/badreg.jsonl:record 2: image b: boxes: region 0: \(0, 0, 11, 5\) is outside the 10 x 10 \(w x h\) image"
printf '%s\n' '{"img_id":"a","img_h":10,"img_w":10,"boxes":[[0,0,10,10]]}' > "$T/badreg.jsonl"
expect_status 1 lx-embed-vis --regions "$T/badreg.jsonl" "$Q"
expect_err "record 1: image a: no features tensor field"
printf '%s\n' '{"img_id":"a","img_h":10,"img_w":10,"boxes":[[0,0,10,10]],"features":[[1.0,2.0]]}' \
    '{"img_id":"a","img_h":10,"img_w":10,"boxes":[[0,0,10,10]],"features":[[1.0,2.0]]}' > "$T/badreg.jsonl"
expect_status 1 lx-embed-vis --regions "$T/badreg.jsonl" "$Q"
expect_err "record 2: image a was given twice"
# an integer box in JSON regions is fine; visual_pos is box / size in float32
printf '%s\n' '{"img_id":"a","img_h":10,"img_w":4,"boxes":[[1,1,3,10]],"features":[[1.0,2.0]]}' > "$T/reg1.jsonl"
echo '{"img_id": "a"}' | lx-embed-vis --regions "$T/reg1.jsonl" -f json > "$T/out" || fail "integer boxes"
grep -q '"visual_feats":\[\[1.0,2.0\]\],"visual_pos":\[\[0.25,0.1,0.75,1.0\]\]' "$T/out" || fail "small join: $(cat "$T/out")"

# an index built through a 7-byte buffer finds the same lines
rm -f "$T/features.tsv.lxi"
lx-embed-vis --buffer-size 7 --features "$T/features.tsv" "$Q" > "$T/small.bin" || fail "small-buffer index"
reccmp "$T/lx.bin" "$T/small.bin" || fail "small-buffer index differs"

# a missing image: an error naming the id and the record, after the records before it
{ head -n 1 "$Q"; echo '{"img_id": "nope"}'; tail -n 1 "$Q"; } > "$T/miss.jsonl"
expect_status 1 lx-embed-vis --features "$T/features.tsv" -f json "$T/miss.jsonl"
expect_err "^lx-embed-vis: $T/miss.jsonl:record 2: img_id nope: image not found"
[ "$(wc -l < "$T/out")" -eq 1 ] || fail "the record before the missing image was not written"
expect_status 0 lx-embed-vis --skip-missing --features "$T/features.tsv" -f json "$T/miss.jsonl"
expect_err '1 record dropped: image not found'
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "--skip-missing kept $(wc -l < "$T/out") records"
echo '{"question_id": 1}' > "$T/nokey.jsonl"
expect_status 1 lx-embed-vis --features "$T/features.tsv" "$T/nokey.jsonl"
expect_err 'record 1: no img_id or image_id field'

# a stale index: the TSV is replaced by another with the same ids and size
mktsv -n 4 -b 3 -d 8 -s 1 > "$T/syn.tsv"
echo '{"img_id": "COCO_val2014_000000000002"}' > "$T/q2.jsonl"
lx-embed-vis --features "$T/syn.tsv" -f json "$T/q2.jsonl" > "$T/s1.jsonl" || fail "synthetic join"
cp "$T/syn.tsv.lxi" "$T/old.lxi"
mktsv -n 4 -b 3 -d 8 -s 2 > "$T/syn.tsv"
touch -d '2001-01-01' "$T/syn.tsv"
expect_status 0 lx-embed-vis --progress --features "$T/syn.tsv" -f json "$T/q2.jsonl"
expect_err 'syn.tsv: 4 images, index built'
cmp -s "$T/syn.tsv.lxi" "$T/old.lxi" && fail "stale index not rewritten"
lx-embed-vis --dump --features "$T/syn.tsv" | lx-embed-vis --regions - -f json "$T/q2.jsonl" > "$T/s3.jsonl" || fail "dump | regions"
cmp -s "$T/out" "$T/s3.jsonl" || fail "the rebuilt index does not give the new file's regions"
cmp -s "$T/s1.jsonl" "$T/out" && fail "the stale index's old regions came back"
expect_status 0 lx-embed-vis --progress --features "$T/syn.tsv" -f json "$T/q2.jsonl"
expect_err 'syn.tsv: 4 images, index loaded'

# an index that cannot be written: kept in memory with a warning, results unchanged
expect_status 0 lx-embed-vis --features "$T/features.tsv" --index "$T/no/such/dir/f.lxi" "$Q"
expect_err 'warning: cannot write .*no/such/dir/f.lxi.*kept in memory'
reccmp "$T/lx.bin" "$T/out" || fail "in-memory index gives different records"

# --index DIR keeps NAME.lxi there
mkdir "$T/ixdir"
lx-embed-vis --features "$T/features.tsv" --index "$T/ixdir" "$Q" > "$T/out" || fail "--index DIR"
[ -s "$T/ixdir/features.tsv.lxi" ] || fail "--index DIR did not write DIR/features.tsv.lxi"
reccmp "$T/lx.bin" "$T/out" || fail "--index DIR gives different records"

# bad TSV lines: an error naming the file, the image and the record
for kind in box nan inf numboxes base64 fields; do
    mktsv -n 3 -b 4 -d 8 --bad "$kind:1" > "$T/bad.tsv"
    echo '{"img_id": "COCO_val2014_000000000000"}' > "$T/qb.jsonl"
    echo '{"img_id": "COCO_val2014_000000000001"}' >> "$T/qb.jsonl"
    expect_status 1 lx-embed-vis --features "$T/bad.tsv" -f json "$T/qb.jsonl"
    case $kind in
    fields) expect_err "^lx-embed-vis: $T/qb.jsonl:record 2: $T/bad.tsv: image COCO_val2014_000000000001: 9 tab-separated fields, expected 10" ;;
    box) expect_err "record 2: .*image COCO_val2014_000000000001: boxes: region 3: .* is outside the" ;;
    nan) expect_err "record 2: .*image COCO_val2014_000000000001: features: region 1, value 3: nan is not a finite number" ;;
    inf) expect_err "record 2: .*image COCO_val2014_000000000001: boxes: region 0: inf is not a finite number" ;;
    numboxes) expect_err "record 2: .*image COCO_val2014_000000000001: boxes: 16 float32 values, expected num_boxes 5 x 4" ;;
    base64) expect_err "record 2: .*image COCO_val2014_000000000001: features: bad base64: '!' at character 1" ;;
    esac
    [ "$(wc -l < "$T/out")" -eq 1 ] || fail "$kind: the good record before the bad one was not written"
    expect_status 0 lx-embed-vis --skip-bad --features "$T/bad.tsv" -f json "$T/qb.jsonl"
    [ "$(wc -l < "$T/out")" -eq 1 ] || fail "$kind: --skip-bad"
    expect_status 1 lx-embed-vis --dump --features "$T/bad.tsv" -f json
    expect_err "^lx-embed-vis: $T/bad.tsv: line 2: "
done
# boxes exactly on the border are fine (mktsv puts two there in every image)
mktsv -n 2 -b 4 -d 8 -l 6 > "$T/six.tsv"
echo '{"image_id": 1}' > "$T/q6.jsonl"
expect_status 0 lx-embed-vis --features "$T/six.tsv" -f json "$T/q6.jsonl"
grep -q '"visual_pos":\[\[0.0,0.0,' "$T/out" || fail "a box at the top-left corner"

# usage
expect_status 0 lx-embed-vis --help
grep -q -- '--skip-missing' "$T/out" || fail "--help does not mention --skip-missing"
expect_status 0 lx-embed-vis --version
expect_status 2 lx-embed-vis "$Q"
expect_err 'no features'
expect_status 2 lx-embed-vis --index x.lxi --features "$T/features.tsv"
expect_status 2 lx-embed-vis --max-boxes 0 --features "$T/features.tsv"
expect_status 2 lx-embed-vis --dump
expect_status 2 lx-embed-vis --bogus
expect_status 1 lx-embed-vis --features "$T/nonexistent.tsv" "$Q"
expect_err 'nonexistent.tsv: No such file'

# an index path that is not a regular file is never renamed over (the join still works,
# with the index in memory)
mkfifo "$T/ix.fifo"
cp "$FX/features.tsv" "$T/fx.tsv"
head -n 1 "$FX/questions.jsonl" | lx-embed-vis --features "$T/fx.tsv" --index "$T/ix.fifo" -f json > "$T/o.jsonl" 2> "$T/e"
[ -p "$T/ix.fifo" ] || fail "lx-embed-vis replaced a FIFO index path with a regular file"
grep -q visual_feats "$T/o.jsonl" || fail "join with an unwritable index path"
exit 0
