# lx-convert: the conversion time of a full-size checkpoint (LXMERT-base shape, random
# weights from randmodel, QA and pre-training heads: ~900 MB of f32) against a plain cp
# of the same file, from safetensors and from both PyTorch formats (mktorch), and the
# time to open the resulting .lxm (mmap + header parse: what every tool pays at start).
# Every file was just written, so reads come from the page cache: these are CPU and
# memory-bandwidth figures, not disk figures.  The target for opening is well under
# 50 ms.
set -u
D=$LX_BENCH_DIR/convert; mkdir -p "$D"
PATH=$LX_BIN:$LX_BUILD/tools:$PATH
TIMEFORMAT=%R
secs() { { time "$@" >/dev/null 2>"$D/err"; } 2>&1 | tail -n1; }

randmodel --preset base --heads qa,pretrain -o "$D/base" >/dev/null
src=$D/base/model.safetensors
mb=$(awk -v b="$(stat -c %s "$src")" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "input: randmodel --preset base --heads qa,pretrain ($mb MB model.safetensors, f32)"
row() { # label seconds
    awk -v l="$1" -v s="$2" -v mb="$mb" 'BEGIN { printf "%-52s %7.2f s  %7.1f MB/s\n", l, s, mb / s }'
}
cat "$src" > /dev/null
row "cp model.safetensors" "$(secs cp "$src" "$D/copy.safetensors")"
rm -f "$D/copy.safetensors"
row "lx-convert base -o base.lxm (f32)" "$(secs lx-convert "$D/base" -o "$D/base.lxm")"
row "lx-convert base -o base-bf16.lxm --dtype bf16" \
    "$(secs lx-convert "$D/base" -o "$D/base-bf16.lxm" --dtype bf16)"
row "lx-convert --verify base.lxm (CRC-32 of every tensor)" "$(secs lx-convert --verify "$D/base.lxm")"
row "lx-convert base.lxm --export-safetensors" \
    "$(secs lx-convert "$D/base.lxm" --export-safetensors "$D/export.safetensors")"
st_data() { local h; h=$(od -An -tu8 -N8 "$1" | tr -d ' '); tail -c +$((h + 9)) "$1"; }
cmp -s <(st_data "$D/export.safetensors") <(st_data "$src") \
    && echo "(the export holds the same tensor bytes as model.safetensors)"
rm -f "$D/export.safetensors" "$D/base-bf16.lxm"

# PyTorch sources: the zip format and the legacy format, with the config beside them
for fmt in zip legacy; do
    mkdir -p "$D/$fmt" && cp "$D/base/config.json" "$D/base/vocab.txt" "$D/$fmt/"
    if [ $fmt = legacy ]; then mktorch --legacy "$src" "$D/$fmt/pytorch_model.bin"
    else mktorch "$src" "$D/$fmt/pytorch_model.bin"; fi
    cat "$D/$fmt/pytorch_model.bin" > /dev/null
    row "cp pytorch_model.bin ($fmt)" "$(secs cp "$D/$fmt/pytorch_model.bin" "$D/copy.bin")"
    rm -f "$D/copy.bin"
    row "lx-convert pytorch_model.bin ($fmt) -o x.lxm" \
        "$(secs lx-convert "$D/$fmt" -o "$D/$fmt.lxm")"
    rm -rf "$D/$fmt" "$D/$fmt.lxm"
done

# Opening: lx-convert --info --progress reports lx_model_open's own time; ten runs.
echo "open base.lxm ($(stat -c %s "$D/base.lxm") bytes), lx_model_open as timed by --progress:"
for i in 1 2 3 4 5 6 7 8 9 10; do
    lx-convert --info --progress "$D/base.lxm" 2>&1 >/dev/null | sed -n 's/.* in \([0-9.]*\) ms/\1/p'
done | sort -n | awk '{ v[NR] = $1 } END { printf "  min %.2f ms, median %.2f ms, max %.2f ms (10 runs)\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
row "whole process: lx-convert --info base.lxm" "$(secs lx-convert --info "$D/base.lxm")" | \
    awk '{ $NF = ""; $(NF-1) = ""; print }'
rm -rf "$D"
