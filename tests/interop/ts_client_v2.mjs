//! `@modelcontextprotocol/client` (the v2 TypeScript SDK line, which replaces
//! `@modelcontextprotocol/sdk` and implements 2026-07-28; pinned in package.json) against the
//! release binary, in both eras:
//! - legacy: `supportedProtocolVersions: [rev]` makes the initialize handshake offer `rev`
//!   (the SDK's documented option), once per legacy revision;
//! - modern: `versionNegotiation: { mode: 'auto' }` (probe with server/discover, stay modern)
//!   and `{ mode: { pin: '2026-07-28' } }` (discover must offer it, no fallback).
//!
//! Usage: node ts_client_v2.mjs [--transport stdio|http|https] [--bin PATH] [--cert PEM --key PEM]

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';

import {
    EXPECTED, REQUEST_TIMEOUT_MS, Tally, armDeadline, parseArgs, removeWorkspace, runChecks,
    startHttpServer, stdioArgs, tempWorkspace,
} from './lib/harness.mjs';

const opts = parseArgs(process.argv.slice(2));
const tally = new Tally(`ts-client@2 ${opts.transport}`);
if (opts.only) tally.only = new RegExp(opts.only);
armDeadline(tally);

const MODERN = EXPECTED.modernRevision;
const ALL_REVISIONS = [MODERN, ...[...EXPECTED.legacyRevisions].reverse()];

/** One connection: `label` names the run, `revision` is what it must negotiate. */
async function runOne(label, revision, clientOptions, workspace, http) {
    const transport = http
        ? new StreamableHTTPClientTransport(http.endpoint)
        : new StdioClientTransport({ command: opts.bin, args: stdioArgs(workspace), stderr: 'inherit' });
    const client = new Client({ name: 'interop-ts-client-v2', version: '1.0.0' }, { capabilities: {}, ...clientOptions });
    const sdkErrors = [];
    client.onerror = (err) => sdkErrors.push(String(err));
    const modern = revision === MODERN;
    let connected = false;
    await tally.check(`${label} ${modern ? 'server/discover' : 'initialize'}`, async () => {
        await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
        connected = true;
        strictEqual(client.getNegotiatedProtocolVersion(), revision, 'negotiated revision');
        strictEqual(client.getProtocolEra(), modern ? 'modern' : 'legacy', 'era');
        strictEqual(client.getServerVersion()?.name, EXPECTED.serverName, 'server name');
        const caps = client.getServerCapabilities();
        ok(caps?.tools && caps?.prompts, `capabilities ${JSON.stringify(caps)}`);
        ok(typeof client.getInstructions() === 'string', 'instructions');
        if (modern) {
            deepStrictEqual(client.getDiscoverResult()?.supportedVersions, ALL_REVISIONS, 'supportedVersions');
        } else {
            strictEqual(client.getDiscoverResult(), undefined, 'no discover result on a legacy connection');
            deepStrictEqual(await client.ping(), {});
        }
    });
    if (!connected) return;
    const hooks = {
        sdkErrors,
        callWithProgress: (params, onprogress) => client.callTool(params, { onprogress }),
    };
    await runChecks(tally.scoped(label), client, revision, `ts2-${opts.transport}-${label}`, hooks);
    await client.close();
}

const runs = [
    ...EXPECTED.legacyRevisions.map((rev) => [rev, rev, { supportedProtocolVersions: [rev] }]),
    [`${MODERN}(auto)`, MODERN, { versionNegotiation: { mode: 'auto' } }],
    [`${MODERN}(pin)`, MODERN, { versionNegotiation: { mode: { pin: MODERN } } }],
];

const workspace = tempWorkspace('ts2');
let http = null;
try {
    if (opts.transport !== 'stdio') http = await startHttpServer(opts, workspace);
    for (const [label, revision, clientOptions] of runs) await runOne(label, revision, clientOptions, workspace, http);
} catch (err) {
    tally.failed += 1;
    console.log(`FAIL ${tally.prefix}: ${err?.stack || err}`);
} finally {
    if (http) await http.stop();
    removeWorkspace(workspace);
}
tally.finish();
