#!/usr/bin/env node
// ONNX Runtime peer for lx's benchmark: the LXMERT network exported by
// `torch_lxmert.py onnx`, run by onnxruntime-node on JSON-lines records (what
// `lx-convert -f json` prints), so that the bench can time ONNX Runtime on the records it
// gives lx-encode.
//
//   ort_lxmert.js --version
//   ort_lxmert.js MODEL.onnx RECORDS.jsonl [--batch B] [--threads T] [--dump FILE]
//
// Every record is read and batched first (untimed); one batch is run to warm up, then
// every batch is run in turn and timed: "ort_ms_per_record=MS ..." on stdout.  The timed
// runs fetch pooled_output only, as the bench's `lx-encode --only pooled_output` outputs;
// with --dump they fetch question_answering_score too and write, for each record, its
// pooled_output then its question_answering_score as raw little-endian f32 (what
// `torch_lxmert.py compare` reads).  Optional fields default as lx-encode's do (token
// types 0, masks 1); a batch is stacked, so its records must have the same numbers of
// tokens and of regions.
//
// onnxruntime-node is not a dependency of lx: it is looked for in $LX_BENCH_ORT_DIR
// (default ~/.cache/lx-bench/ort)/node_modules, and when it is not there this says how to
// install it and exits 3.  Version 1.16.3 carries its native library in the npm package;
// newer ones download it at install time.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const ORT_VERSION = '1.16.3';
const ORT_DIR = process.env.LX_BENCH_ORT_DIR || path.join(os.homedir(), '.cache', 'lx-bench', 'ort');
const ME = 'ort_lxmert.js';

function die(msg, status = 1) {
    process.stderr.write(`${ME}: ${msg}\n`);
    process.exit(status);
}

function loadOrt() {
    const where = path.join(ORT_DIR, 'node_modules', 'onnxruntime-node');
    try {
        return require(where);
    } catch (e) {
        die(`onnxruntime-node not found in ${ORT_DIR} (${e.code || e.message}); install it with:\n` +
            `  mkdir -p ${ORT_DIR} && cd ${ORT_DIR} && ` +
            `npm install --ignore-scripts onnxruntime-node@${ORT_VERSION}\n` +
            `(or set LX_BENCH_ORT_DIR to a folder where it is installed)`, 3);
    }
}

function parseArgs(argv) {
    const a = { batch: 1, threads: os.cpus().length, dump: null, files: [] };
    for (let i = 0; i < argv.length; i++) {
        const o = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) die(`${o} needs a value`, 2);
            return argv[++i];
        };
        const count = (s) => {
            if (!/^[1-9][0-9]{0,5}$/.test(s)) die(`${o}: expected a positive integer, got '${s}'`, 2);
            return Number(s);
        };
        if (o === '--batch') a.batch = count(value());
        else if (o === '--threads') a.threads = count(value());
        else if (o === '--dump') a.dump = value();
        else if (o === '--version') a.version = true;
        else if (o.startsWith('-')) die(`unknown option ${o}`, 2);
        else a.files.push(o);
    }
    if (!a.version && a.files.length !== 2)
        die(`usage: ${ME} MODEL.onnx RECORDS.jsonl [--batch B] [--threads T] [--dump FILE]`, 2);
    return a;
}

// The record's inputs as typed arrays, checked against the shapes the network takes.
function recordInputs(r, where) {
    const ints = (v, name, n) => {
        if (!Array.isArray(v) || v.length !== n || !v.every(Number.isInteger))
            die(`${where}: ${name}: expected ${n} integers`);
        return BigInt64Array.from(v, BigInt);
    };
    const floats = (v, name, n, width) => {
        if (!Array.isArray(v) || v.length !== n) die(`${where}: ${name}: expected ${n} rows`);
        const out = new Float32Array(n * (width || 1));
        const put = (k, x) => {
            if (typeof x !== 'number') die(`${where}: ${name}: ${JSON.stringify(x)} is not a number`);
            out[k] = x;
        };
        v.forEach((row, i) => {
            if (width) {
                if (!Array.isArray(row) || row.length !== width)
                    die(`${where}: ${name}: row ${i}: expected ${width} values`);
                row.forEach((x, j) => put(i * width + j, x));
            } else {
                put(i, row);
            }
        });
        return out;
    };
    if (!Array.isArray(r.input_ids) || !Array.isArray(r.visual_feats))
        die(`${where}: expected input_ids and visual_feats`);
    const L = r.input_ids.length, N = r.visual_feats.length;
    return {
        L, N,
        input_ids: ints(r.input_ids, 'input_ids', L),
        attention_mask: r.attention_mask === undefined ? new Float32Array(L).fill(1)
            : floats(r.attention_mask, 'attention_mask', L),
        token_type_ids: r.token_type_ids === undefined ? new BigInt64Array(L)
            : ints(r.token_type_ids, 'token_type_ids', L),
        visual_feats: floats(r.visual_feats, 'visual_feats', N, 2048),
        visual_pos: floats(r.visual_pos, 'visual_pos', N, 4),
        visual_attention_mask: r.visual_attention_mask === undefined ? new Float32Array(N).fill(1)
            : floats(r.visual_attention_mask, 'visual_attention_mask', N),
    };
}

const INPUTS = [ // name, ort type, typed array, row width (the batch's dims: [B, L | N, width?])
    ['input_ids', 'int64', BigInt64Array, 'L'], ['attention_mask', 'float32', Float32Array, 'L'],
    ['token_type_ids', 'int64', BigInt64Array, 'L'], ['visual_feats', 'float32', Float32Array, 'N', 2048],
    ['visual_pos', 'float32', Float32Array, 'N', 4], ['visual_attention_mask', 'float32', Float32Array, 'N'],
];

// Records stacked into one batch's feeds.
function stack(ort, recs) {
    const feeds = {};
    for (const [name, type, Arr, len, width] of INPUTS) {
        const per = recs[0][name].length;
        const data = new Arr(per * recs.length);
        recs.forEach((r, i) => data.set(r[name], i * per));
        const dims = [recs.length, recs[0][len]];
        if (width) dims.push(width);
        feeds[name] = new ort.Tensor(type, data, dims);
    }
    return feeds;
}

async function readBatches(ort, file, batch) {
    const batches = [];
    let cur = [], n = 0;
    const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
    for await (const line of lines) {
        n++;
        const where = `${file}: record ${n}`;
        let r;
        try {
            r = JSON.parse(line);
        } catch (e) {
            die(`${where}: ${e.message}`);
        }
        const rec = recordInputs(r, where);
        if (cur.length && (rec.L !== cur[0].L || rec.N !== cur[0].N))
            die(`${where}: ${rec.L} tokens and ${rec.N} regions, but its batch has ${cur[0].L} and ${cur[0].N}`);
        cur.push(rec);
        if (cur.length === batch) {
            batches.push({ feeds: stack(ort, cur), n: cur.length });
            cur = [];
        }
    }
    if (cur.length) batches.push({ feeds: stack(ort, cur), n: cur.length });
    if (!n) die(`${file}: no records`);
    return { batches, records: n };
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const ort = loadOrt();
    const version = (ort.env && ort.env.versions && ort.env.versions.node) || '?';
    if (a.version) {
        console.log(`onnxruntime-node ${version} (${ORT_DIR})`);
        return;
    }
    const [model, records] = a.files;
    const t0 = process.hrtime.bigint();
    // intra-op threads: one per core (ORT's own default is the physical cores); no
    // inter-op parallelism (the graph is one chain); every graph optimisation.
    const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
    });
    const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const { batches, records: n } = await readBatches(ort, records, a.batch);
    const fetches = a.dump ? ['pooled_output', 'question_answering_score'] : ['pooled_output'];
    await session.run(batches[0].feeds, fetches); // warm-up
    const outs = [];
    const t1 = process.hrtime.bigint();
    for (const b of batches) outs.push(await session.run(b.feeds, fetches));
    const ms = Number(process.hrtime.bigint() - t1) / 1e6;
    console.log(`ort_ms_per_record=${(ms / n).toFixed(2)} batch=${a.batch} records=${n} ` +
                `intra_op_threads=${a.threads} load_ms=${loadMs.toFixed(0)} onnxruntime_node=${version}`);
    if (a.dump) {
        const parts = [];
        outs.forEach((o, k) => {
            const p = o.pooled_output, q = o.question_answering_score;
            const hp = p.dims[1], hq = q.dims[1];
            for (let i = 0; i < batches[k].n; i++) {
                parts.push(Buffer.from(p.data.buffer, p.data.byteOffset + 4 * i * hp, 4 * hp));
                parts.push(Buffer.from(q.data.buffer, q.data.byteOffset + 4 * i * hq, 4 * hq));
            }
        });
        fs.writeFileSync(a.dump, Buffer.concat(parts));
    }
}

main().catch((e) => die(e.message || String(e)));
