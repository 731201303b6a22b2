// Comparison server on the official TypeScript SDK (@modelcontextprotocol/sdk, the version
// pinned in tests/interop/package-lock.json), written the way the SDK's own stateless example
// (examples/server/simpleStatelessStreamableHttp.js) does it: an Express app from
// createMcpExpressApp, a new Server and StreamableHTTPServerTransport per request, no
// sessions. JSON answers (enableJsonResponse) so it answers the same bytes-on-the-wire kind
// as ours. tools/list returns benches/alternatives/tools.json (our twelve tools), tools/call
// read_file reads a file below --root. Used only by benches/alternatives.sh.
//
// Run: node benches/alternatives/ts_server.mjs --port 0 --root DIR [--tools FILE]
// Prints `listening on http://127.0.0.1:PORT` to stderr once bound.
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// The SDK lives in tests/interop/node_modules; resolve it from there.
const interop = fileURLToPath(new URL('../../tests/interop/', import.meta.url));
const require = createRequire(interop);
const sdk = (p) => import(require.resolve(`@modelcontextprotocol/sdk/${p}`));
const { Server } = await sdk('server/index.js');
const { StreamableHTTPServerTransport } = await sdk('server/streamableHttp.js');
const { createMcpExpressApp } = await sdk('server/express.js');
const { ListToolsRequestSchema, CallToolRequestSchema } = await sdk('types.js');

function arg(name, fallback) {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
}
const port = Number(arg('port', '0'));
const root = arg('root', '.');
const toolsFile = arg('tools', fileURLToPath(new URL('tools.json', import.meta.url)));
const tools = JSON.parse(await readFile(toolsFile, 'utf8'));

function toolError(text) {
    return { content: [{ type: 'text', text }], isError: true };
}

function getServer() {
    const server = new Server(
        { name: 'ts-sdk-comparison', version: '1.0.0' },
        { capabilities: { tools: {} } },
    );
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
        const { name, arguments: args } = request.params;
        if (name !== 'read_file') return toolError('not implemented in the comparison server');
        const path = String(args?.path ?? '');
        const clean = normalize(path);
        if (!path || isAbsolute(path) || clean.split(sep).includes('..')) {
            return toolError('path must be relative and stay inside the root');
        }
        try {
            const text = await readFile(join(root, clean), 'utf8');
            return { content: [{ type: 'text', text }], isError: false };
        } catch (e) {
            return toolError(`cannot read ${path}: ${e.code ?? e.message}`);
        }
    });
    return server;
}

const app = createMcpExpressApp();
app.post('/mcp', async (req, res) => {
    const server = getServer();
    try {
        const transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: undefined,
            enableJsonResponse: true,
        });
        await server.connect(transport);
        await transport.handleRequest(req, res, req.body);
        res.on('close', () => {
            transport.close();
            server.close();
        });
    } catch (error) {
        if (!res.headersSent) {
            res.status(500).json({
                jsonrpc: '2.0',
                error: { code: -32603, message: 'Internal server error' },
                id: null,
            });
        }
    }
});

const listener = app.listen(port, '127.0.0.1', () => {
    process.stderr.write(`listening on http://127.0.0.1:${listener.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
