//! `@modelcontextprotocol/sdk` (the v1 TypeScript SDK line, pinned in package.json) against the
//! release binary, once per legacy revision. This line has no 2026-07-28 support: it only
//! speaks the initialize handshake.
//!
//! v1's Client always offers its latest revision (2025-11-25) and accepts any of its supported
//! revisions in the answer. To make it speak an older one, the transport's `send` is wrapped
//! so the initialize request offers that revision instead; the rest (parsing, result schemas,
//! the MCP-Protocol-Version header on HTTP) is the SDK's own code path for a server that
//! answered with that revision.
//!
//! Usage: node ts_sdk_v1.mjs [--transport stdio|http|https] [--bin PATH] [--cert PEM --key PEM]

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';

import {
    EXPECTED, REQUEST_TIMEOUT_MS, Tally, armDeadline, parseArgs, removeWorkspace, runChecks,
    startHttpServer, stdioArgs, tempWorkspace,
} from './lib/harness.mjs';

const opts = parseArgs(process.argv.slice(2));
const tally = new Tally(`ts-sdk@1 ${opts.transport}`);
if (opts.only) tally.only = new RegExp(opts.only);
armDeadline(tally);

/** Makes the next initialize offer `revision` and records what the server answered. */
function offerRevision(transport, revision) {
    const seen = { answered: undefined };
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
        if (message.method === 'initialize') {
            message = { ...message, params: { ...message.params, protocolVersion: revision } };
        }
        return send(message, options);
    };
    const hook = () => {
        const onmessage = transport.onmessage;
        transport.onmessage = (message, extra) => {
            if (message.result?.protocolVersion) seen.answered = message.result.protocolVersion;
            onmessage?.(message, extra);
        };
    };
    return { seen, hook };
}

async function runRevision(revision, workspace, http) {
    const transport = http
        ? new StreamableHTTPClientTransport(http.endpoint)
        : new StdioClientTransport({ command: opts.bin, args: stdioArgs(workspace), stderr: 'inherit' });
    const offer = offerRevision(transport, revision);
    const client = new Client({ name: 'interop-ts-sdk-v1', version: '1.0.0' }, { capabilities: {} });
    const sdkErrors = [];
    client.onerror = (err) => sdkErrors.push(String(err));
    const start = transport.start.bind(transport);
    transport.start = async () => {
        offer.hook();
        return start();
    };
    const label = revision;
    let connected = false;
    await tally.check(`${label} initialize`, async () => {
        await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
        connected = true;
        strictEqual(offer.seen.answered, revision, 'negotiated revision');
        strictEqual(client.getServerVersion()?.name, EXPECTED.serverName);
        const caps = client.getServerCapabilities();
        ok(caps?.tools && caps?.prompts, `capabilities ${JSON.stringify(caps)}`);
        ok(typeof client.getInstructions() === 'string');
        deepStrictEqual(await client.ping(), {});
    });
    if (!connected) return;
    const hooks = {
        sdkErrors,
        callWithProgress: (params, onprogress) => client.callTool(params, undefined, { onprogress }),
    };
    await runChecks(tally.scoped(label), client, revision, `ts1-${opts.transport}-${revision}`, hooks);
    await client.close();
}

const workspace = tempWorkspace('ts1');
let http = null;
try {
    if (opts.transport !== 'stdio') http = await startHttpServer(opts, workspace);
    for (const revision of EXPECTED.legacyRevisions) await runRevision(revision, workspace, http);
} catch (err) {
    tally.failed += 1;
    console.log(`FAIL ${tally.prefix}: ${err?.stack || err}`);
} finally {
    if (http) await http.stop();
    removeWorkspace(workspace);
}
tally.finish();
