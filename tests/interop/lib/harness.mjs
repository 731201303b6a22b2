//! Shared by the Node drivers (ts_sdk_v1.mjs, ts_client_v2.mjs): command line, pass/fail
//! tally, starting the release binary as an HTTP server, and the one list of checks every
//! client runs in every revision. A driver only knows how its SDK connects; the checks use
//! the method names both TypeScript SDK lines share (listPrompts, getPrompt, listTools,
//! callTool) and the `code` both put on a JSON-RPC error.

import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
export const EXPECTED = JSON.parse(readFileSync(join(here, '..', 'expected.json'), 'utf8'));

/** Longest a whole driver may run before it is stopped and counted as failed. */
const DRIVER_DEADLINE_MS = 180_000;
/** Longest the server may take to log its bound URL. */
const LISTEN_DEADLINE_MS = 10_000;
/** Per-request timeout handed to the SDKs (their default is 60 s). */
export const REQUEST_TIMEOUT_MS = 20_000;

/** `--transport stdio|http|https`, `--bin PATH`, `--cert PEM --key PEM` (https), `--only REGEX`. */
export function parseArgs(argv) {
    const opts = {
        transport: 'stdio',
        bin: process.env.MCP_SERVER_BIN || resolve(here, '..', '..', '..', 'target', 'release', 'mcp-server-spec'),
        cert: null,
        key: null,
        only: null,
    };
    for (let i = 0; i < argv.length; i += 1) {
        const flag = argv[i];
        const value = argv[i + 1];
        if (!['--transport', '--bin', '--cert', '--key', '--only'].includes(flag) || value === undefined) {
            throw new Error(`usage: [--transport stdio|http|https] [--bin PATH] [--cert PEM --key PEM] [--only REGEX] (bad: ${flag})`);
        }
        opts[flag.slice(2)] = value;
        i += 1;
    }
    if (!['stdio', 'http', 'https'].includes(opts.transport)) throw new Error(`unknown transport ${opts.transport}`);
    if (opts.transport === 'https') {
        if (!opts.cert || !opts.key) throw new Error('--transport https needs --cert and --key');
        // Node reads NODE_EXTRA_CA_CERTS once at start-up, so run.sh sets it; say so if it did not.
        if (process.env.NODE_EXTRA_CA_CERTS !== opts.cert) {
            throw new Error('--transport https: set NODE_EXTRA_CA_CERTS to the --cert file so Node trusts it');
        }
    }
    return opts;
}

/** Counts named cases; a case is an async function that throws on the first mismatch. */
export class Tally {
    constructor(prefix) {
        this.prefix = prefix;
        this.passed = 0;
        this.failed = 0;
        this.only = null;
    }

    async check(name, fn) {
        const full = `${this.prefix} ${name}`;
        if (this.only && !this.only.test(full)) return;
        try {
            await fn();
            this.passed += 1;
            console.log(`ok   ${full}`);
        } catch (err) {
            this.failed += 1;
            const where = String(err?.stack ?? '').split('\n').find((l) => /\.mjs:\d+/.test(l) && !/node:/.test(l)) ?? '';
            const what = String(err?.message ?? err).split('\n').slice(0, 20).join('\n     ');
            console.log(`FAIL ${full}\n     ${what}\n     ${where.trim()}`);
        }
    }

    /** A view whose case names start with `label`; counts go to this tally. */
    scoped(label) {
        return { check: (name, fn) => this.check(`${label} ${name}`, fn) };
    }

    /** Prints the summary line run.sh and CI read, and exits non-zero on any failure. */
    finish() {
        console.log(`interop: ${this.passed} passed, ${this.failed} failed`);
        process.exit(this.failed === 0 && this.passed > 0 ? 0 : 1);
    }
}

/** Stops a hung or killed driver: counted as a failure with the summary line still printed. */
export function armDeadline(tally) {
    process.once('SIGTERM', () => {
        console.log(`FAIL ${tally.prefix} stopped by SIGTERM`);
        tally.failed += 1;
        tally.finish();
    });
    setTimeout(() => {
        console.log(`FAIL ${tally.prefix} driver deadline of ${DRIVER_DEADLINE_MS} ms exceeded`);
        tally.failed += 1;
        tally.finish();
    }, DRIVER_DEADLINE_MS).unref();
}

/** A fresh workspace holding the spec in fixture/ (named `interop-fixture`). */
export function tempWorkspace(tag) {
    const dir = mkdtempSync(join(tmpdir(), `mcp-interop-${tag}-`));
    cpSync(join(here, '..', 'fixture'), dir, { recursive: true });
    return dir;
}

export function removeWorkspace(dir) {
    rmSync(dir, { recursive: true, force: true });
}

/** Arguments for a stdio server; warnings only, so the driver's output stays readable. */
export function stdioArgs(workspace) {
    return ['--transport', 'stdio', '--workspace', workspace, '--log-level', 'warn'];
}

/**
 * Starts `BIN --transport http-stream --port 0` (plus TLS files for https) and waits for the
 * `listening on URL` log line. Returns the MCP endpoint and a `stop()` that kills this child.
 */
export async function startHttpServer(opts, workspace) {
    const args = ['--transport', 'http-stream', '--host', '127.0.0.1', '--port', '0', '--workspace', workspace];
    if (opts.transport === 'https') args.push('--ssl-certfile', opts.cert, '--ssl-keyfile', opts.key);
    const child = spawn(opts.bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    // A driver that ends any other way (deadline, SIGTERM from run.sh's timeout) still stops it.
    const killChild = () => child.kill('SIGTERM');
    process.once('exit', killChild);
    let log = '';
    let url = null;
    try {
        url = await new Promise((resolveUrl, reject) => {
            const timer = setTimeout(() => reject(new Error(`no "listening on" line within ${LISTEN_DEADLINE_MS} ms:\n${log}`)), LISTEN_DEADLINE_MS);
            child.stderr.setEncoding('utf8');
            child.stderr.on('data', (chunk) => {
                if (log.length < 65536) log += chunk; // enough for start-up diagnostics
                const m = url === null && /listening on (https?:\/\/\S+)/.exec(log);
                if (m) {
                    clearTimeout(timer);
                    resolveUrl(m[1]);
                }
            });
            child.on('exit', (code) => {
                clearTimeout(timer);
                reject(new Error(`server exited with ${code} before listening:\n${log}`));
            });
            child.on('error', reject);
        });
    } catch (err) {
        killChild();
        throw err;
    }
    const base = url.replace(/\/+$/, '');
    const endpoint = new URL(base.endsWith('/mcp') ? base : `${base}/mcp`);
    return {
        endpoint,
        stop: () => new Promise((done) => {
            process.removeListener('exit', killChild);
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
        }),
    };
}

const ORDER = [...EXPECTED.legacyRevisions, EXPECTED.modernRevision];

/** Whether `revision` carries the wire feature named in expected.json's `since` table. */
export function has(feature, revision) {
    return ORDER.indexOf(revision) >= ORDER.indexOf(EXPECTED.since[feature]);
}

/** Awaits a promise that must reject with a JSON-RPC error of `code` whose message matches. */
export async function rejectsWith(promise, code, messagePattern) {
    let value;
    try {
        value = await promise;
    } catch (err) {
        strictEqual(err?.code, code, `error code (message: ${err?.message})`);
        ok(messagePattern.test(err.message), `message ${JSON.stringify(err.message)} should match ${messagePattern}`);
        return;
    }
    throw new Error(`expected JSON-RPC error ${code}, got result ${JSON.stringify(value).slice(0, 300)}`);
}

function textOf(result) {
    strictEqual(result.content.length, 1, 'one content block');
    strictEqual(result.content[0].type, 'text');
    return result.content[0].text;
}

/** Arguments for a prompt or tool named nowhere in expected.json, made from what it lists. */
function sampleValue(schema) {
    // An enum admits only its listed values: a made-up string would be a protocol error.
    if (Array.isArray(schema?.enum) && schema.enum.length > 0) return schema.enum[0];
    switch (schema?.type) {
        case 'array': return [];
        case 'boolean': return false;
        case 'integer': case 'number': return 1;
        case 'object': return {};
        default: return 'interop sample';
    }
}

function fill(args, slug) {
    return JSON.parse(JSON.stringify(args).replaceAll('{slug}', slug));
}

/** Checks every prompt the server lists: the seed ones field by field, the rest by shape. */
async function promptChecks(tally, client, revision) {
    const titles = has('titles', revision);
    let listed = null;
    await tally.check('prompts/list: every prompt, seed metadata exact', async () => {
        const { prompts } = await client.listPrompts();
        listed = prompts;
        const names = prompts.map((p) => p.name);
        strictEqual(new Set(names).size, names.length, 'names are unique');
        for (const want of EXPECTED.prompts) {
            const got = prompts.find((p) => p.name === want.name);
            ok(got, `${want.name} is listed (got ${names.join(', ')})`);
            strictEqual(got.description, want.description, `${want.name} description`);
            strictEqual(got.title, titles ? want.title : undefined, `${want.name} title`);
            for (const arg of want.arguments) {
                deepStrictEqual(got.arguments?.find((a) => a.name === arg.name), arg, `${want.name} argument ${arg.name}`);
            }
            for (const extra of (got.arguments ?? []).filter((a) => !want.arguments.some((w) => w.name === a.name))) {
                ok(!extra.required, `${want.name}: added argument ${extra.name} must be optional`);
            }
        }
        for (const p of prompts) {
            if (!titles) strictEqual(p.title, undefined, `${p.name} has no title before 2025-06-18`);
        }
    });
    const prompts = listed ?? [...EXPECTED.prompts, ...Object.keys(EXPECTED.promptCalls).map((name) => ({ name }))];
    for (const prompt of prompts) {
        const seed = EXPECTED.prompts.find((p) => p.name === prompt.name);
        const known = EXPECTED.promptCalls[prompt.name];
        await tally.check(`prompts/get ${prompt.name}${seed || known ? '' : ' (not in expected.json)'}`, async () => {
            const args = seed?.call ?? known ?? Object.fromEntries(
                (prompt.arguments ?? []).filter((a) => a.required).map((a) => [a.name, 'interop sample']));
            let got;
            try {
                got = await client.getPrompt({ name: prompt.name, arguments: args });
            } catch (err) {
                if (!seed && !known && err?.code === -32602) return; // unknown prompt, sample arguments refused
                throw err;
            }
            ok(got.messages.length >= 1, 'at least one message');
            for (const m of got.messages) {
                ok(['user', 'assistant'].includes(m.role), `role ${m.role}`);
                if (m.content.type === 'text') ok(m.content.text.length > 0, 'non-empty text');
            }
            if (seed) {
                strictEqual(got.description, seed.description);
                strictEqual(got.messages[0].role, 'user');
                strictEqual(got.messages[0].content.type, 'text');
                const text = got.messages[0].content.text;
                ok(text.startsWith(seed.textPrefix), `text starts with the seed text: ${JSON.stringify(text.slice(0, 200))}`);
            }
        });
    }
}

/** Checks every tool the server lists: the seed ones field by field, the rest by shape. */
async function toolListCheck(tally, client, revision) {
    const titles = has('titles', revision);
    const structured = has('structuredContent', revision);
    let listed = null;
    await tally.check('tools/list: every tool, seed schemas, titles, annotations', async () => {
        const { tools } = await client.listTools();
        listed = tools;
        const names = tools.map((t) => t.name);
        strictEqual(new Set(names).size, names.length, 'names are unique');
        for (const t of tools) {
            ok(typeof t.description === 'string' && t.description.length > 0, `${t.name} description`);
            strictEqual(t.inputSchema.type, 'object', `${t.name} inputSchema.type`);
            if (!titles) strictEqual(t.title, undefined, `${t.name} has no title before 2025-06-18`);
            if (!has('annotations', revision)) strictEqual(t.annotations, undefined, `${t.name} annotations before 2025-03-26`);
            if (!structured) strictEqual(t.outputSchema, undefined, `${t.name} outputSchema before 2025-06-18`);
        }
        for (const want of EXPECTED.tools) {
            const got = tools.find((t) => t.name === want.name);
            ok(got, `${want.name} is listed (got ${names.join(', ')})`);
            deepStrictEqual(got.inputSchema.required, want.required, `${want.name} required`);
            deepStrictEqual(Object.keys(got.inputSchema.properties).sort(), [...want.required].sort());
            strictEqual(got.title, titles ? want.title : undefined, `${want.name} title`);
            if (has('annotations', revision)) deepStrictEqual(got.annotations, want.annotations, `${want.name} annotations`);
            if (structured && want.outputRequired) deepStrictEqual(got.outputSchema?.required, want.outputRequired);
            else strictEqual(got.outputSchema, undefined, `${want.name} outputSchema`);
        }
    });
    return listed ?? EXPECTED.tools.map((t) => ({ name: t.name, inputSchema: { type: 'object' } }));
}

/** Calls every listed tool beyond the seed two: those in expected.json must succeed. */
async function otherToolCalls(tally, client, revision, tools, slug) {
    const structured = has('structuredContent', revision);
    const seed = new Set(EXPECTED.tools.map((t) => t.name));
    const known = Object.keys(EXPECTED.toolCalls).filter((name) => tools.some((t) => t.name === name));
    const unknown = tools.filter((t) => !seed.has(t.name) && !(t.name in EXPECTED.toolCalls)).map((t) => t.name);
    for (const name of [...known, ...unknown]) {
        const tool = tools.find((t) => t.name === name);
        const isKnown = name in EXPECTED.toolCalls;
        await tally.check(`tools/call ${name}${isKnown ? '' : ' (not in expected.json)'}`, async () => {
            const args = isKnown ? fill(EXPECTED.toolCalls[name], slug) : Object.fromEntries(
                (tool.inputSchema.required ?? []).map((p) => [p, sampleValue(tool.inputSchema.properties?.[p])]));
            const got = await client.callTool({ name, arguments: args });
            ok(got.content.length >= 1, 'content');
            if (!isKnown) return; // the SDK accepted the result: that is the check
            strictEqual(got.isError ?? false, false, `isError: ${JSON.stringify(got.content).slice(0, 300)}`);
            if (structured && tool.outputSchema) ok(got.structuredContent && typeof got.structuredContent === 'object', 'structuredContent');
        });
    }
}

/**
 * The TypeScript SDKs (v1 and v2) report a progress notification that arrives in the same read
 * as its response as "unknown token" through `onerror`: they dispatch notifications a
 * microtask late but settle responses at once. A server cannot prevent that; it is
 * typescript-sdk issue #2580 (fix proposed in PR #2586). Only that error, for a token this run
 * issued, is tolerated.
 */
const SDK_PROGRESS_RACE = /^Error: Received a progress notification for an unknown token: /;

/** Progress, logging level and the SDK's own error channel: checks that need driver hooks. */
async function hookChecks(tally, client, revision, hooks) {
    await tally.check('progress: a call with a progress token completes; updates are well-formed', async () => {
        const updates = [];
        const got = await hooks.callWithProgress({ name: 'read_file', arguments: { path: 'specs/interop-fixture/tasks.md' } },
            (p) => updates.push(p));
        strictEqual(got.isError ?? false, false);
        ok(textOf(got).startsWith('# Tasks'), 'content');
        for (const u of updates) {
            ok(typeof u.progress === 'number', 'progress is a number');
            if (u.total !== undefined) ok(u.progress <= u.total, 'progress <= total');
        }
    });
    if (revision !== EXPECTED.modernRevision) {
        await tally.check('logging/setLevel is accepted', async () => {
            deepStrictEqual(await client.setLoggingLevel('debug'), {});
        });
    }
    await tally.check('the SDK reported no protocol error (onerror)', async () => {
        const unexpected = hooks.sdkErrors.filter((e) => !SDK_PROGRESS_RACE.test(e));
        deepStrictEqual(unexpected, [], 'errors the SDK raised while talking to the server');
    });
}

/**
 * Every check one client runs against one connected server in one revision.
 * `client` is connected; `revision` is what the connection negotiated; `tag` keeps this
 * run's files and specs apart from other runs sharing a workspace; `hooks` carries
 * `callWithProgress(params, onprogress)` and `sdkErrors` (what the client's onerror saw).
 */
export async function runChecks(tally, client, revision, tag, hooks) {
    const structured = has('structuredContent', revision);
    const slug = tag.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');

    await promptChecks(tally, client, revision);
    const tools = await toolListCheck(tally, client, revision);

    const path = `interop/${slug}/notes.md`;
    const first = `# ${tag}\n\nWhen a client calls, the server shall answer. ünïcode ✓\n`;
    const second = `${first}\nSecond version.\n`;

    await tally.check('tools/call create_file (new) then read_file', async () => {
        const made = await client.callTool({ name: 'create_file', arguments: { path, content: first } });
        strictEqual(made.isError ?? false, false, `create_file: ${JSON.stringify(made.content)}`);
        ok(textOf(made).includes(path), 'create_file text names the path');
        if (structured) deepStrictEqual(made.structuredContent, { path, bytes: Buffer.byteLength(first), created: true });
        else strictEqual(made.structuredContent, undefined);
        const read = await client.callTool({ name: 'read_file', arguments: { path } });
        strictEqual(read.isError ?? false, false);
        strictEqual(textOf(read), first);
    });

    await tally.check('tools/call create_file (overwrite) then read_file', async () => {
        const made = await client.callTool({ name: 'create_file', arguments: { path, content: second } });
        strictEqual(made.isError ?? false, false);
        if (structured) deepStrictEqual(made.structuredContent, { path, bytes: Buffer.byteLength(second), created: false });
        const read = await client.callTool({ name: 'read_file', arguments: { path } });
        strictEqual(textOf(read), second);
    });

    await tally.check(`tools/call read_file of ${EXPECTED.largeFileBytes} bytes (over 1 MiB)`, async () => {
        const bigPath = `interop/${slug}/big.txt`;
        const line = 'EARS: When the file is large, the server shall return it whole.\n';
        const big = line.repeat(Math.ceil(EXPECTED.largeFileBytes / line.length)).slice(0, EXPECTED.largeFileBytes);
        const made = await client.callTool({ name: 'create_file', arguments: { path: bigPath, content: big } });
        strictEqual(made.isError ?? false, false, JSON.stringify(made.content).slice(0, 300));
        const read = await client.callTool({ name: 'read_file', arguments: { path: bigPath } });
        strictEqual(read.isError ?? false, false);
        const text = textOf(read);
        strictEqual(text.length, big.length, 'length');
        ok(text === big, 'content');
    });

    await otherToolCalls(tally, client, revision, tools, slug);

    await tally.check('error: unknown tool is JSON-RPC -32602', async () => {
        await rejectsWith(client.callTool({ name: 'no_such_tool', arguments: {} }), -32602, /no_such_tool/);
    });

    await tally.check('error: prompts/get without required argument is -32602', async () => {
        await rejectsWith(client.getPrompt({ name: 'generate-requirements', arguments: {} }), -32602, /requirements/);
    });

    await tally.check('error: unknown prompt is -32602', async () => {
        await rejectsWith(client.getPrompt({ name: 'no-such-prompt', arguments: {} }), -32602, /no-such-prompt/);
    });

    await tally.check('error: read_file ../outside is an isError result', async () => {
        const got = await client.callTool({ name: 'read_file', arguments: { path: '../outside' } });
        strictEqual(got.isError, true);
        ok(textOf(got).length > 0, 'says why');
    });

    await tally.check('error: read_file of a missing file is an isError result', async () => {
        const got = await client.callTool({ name: 'read_file', arguments: { path: `interop/${slug}/missing.md` } });
        strictEqual(got.isError, true);
        ok(textOf(got).length > 0, 'says why');
    });

    await tally.check('error: create_file without content (schema violation)', async () => {
        const call = client.callTool({ name: 'create_file', arguments: { path: `interop/${slug}/x.md` } });
        if (has('schemaErrorsAreToolErrors', revision)) {
            const got = await call;
            strictEqual(got.isError, true);
            ok(/content/.test(textOf(got)), 'names the missing argument');
        } else {
            await rejectsWith(call, -32602, /content/);
        }
    });

    await hookChecks(tally, client, revision, hooks);
}
