#!/usr/bin/env python3
"""Self-test stand-in: Streamable HTTP in front of `mcp-server-spec --transport stdio`.

NOT a test of the server's HTTP transport. It exists so the HTTP and HTTPS code paths of the
interop drivers (URL discovery from the log line, the SDKs' Streamable HTTP transports, TLS
trust, the 1 MiB read over HTTP) can be exercised while the binary has no `http-stream`:
`INTEROP_SELFTEST_HTTP=1 bash tests/interop/run.sh`. It takes the binary's command line
(`--transport http-stream --host H --port P --workspace DIR [--ssl-certfile C --ssl-keyfile K]`),
logs `listening on URL` on stderr, and forwards each POSTed JSON-RPC message to a stdio child of
the real binary (`MCP_BRIDGE_TARGET`), answering with plain `application/json`:
one child per `initialize` (its session, named by `Mcp-Session-Id`) and one shared child for
requests without a session (2026-07-28 is stateless). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET = os.environ.get("MCP_BRIDGE_TARGET", "")
# MCP_BRIDGE_SSE=1 answers every request as a one-event SSE stream instead of plain JSON: the
# negative control for the 1 MiB SSE-event trap (the Python client must then fail the big read).
SSE = os.environ.get("MCP_BRIDGE_SSE") == "1"
# Longest a body may be (the interop suite sends about 1 MiB).
MAX_BODY = 16 * 1024 * 1024


class Child:
    """One stdio server process; one request at a time."""

    def __init__(self, workspace: str) -> None:
        args = [TARGET, "--transport", "stdio", "--workspace", workspace, "--log-level", "warn"]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.lock = threading.Lock()

    def exchange(self, message: Any) -> tuple[list[Any], Any | None]:
        """Sends one message; returns the notifications sent before the response, and the
        response (None for a notification)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
            if "id" not in message or "method" not in message:
                return [], None
            notes: list[Any] = []
            while True:  # collect what the server sends before the response
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError("stdio child closed")
                reply = json.loads(line)
                if "id" in reply and "method" not in reply and reply["id"] == message["id"]:
                    return notes, reply
                notes.append(reply)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Bridge:
    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        self.sessions: dict[str, Child] = {}
        self.stateless = Child(workspace)
        self.lock = threading.Lock()


def handler_for(bridge: Bridge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *_: Any) -> None:  # quiet
            pass

        def reply(
            self, status: int, body: Any = None, headers: dict[str, str] | None = None, before: list[Any] | None = None
        ) -> None:
            """Plain JSON, or an SSE stream (the `before` notifications, then `body`) when
            there is something to stream or MCP_BRIDGE_SSE=1."""
            data = b"" if body is None else json.dumps(body).encode()
            sse = status == 200 and body is not None and (SSE or bool(before))
            if sse:
                events = [*(before or []), body]
                data = b"".join(b"event: message\ndata: " + json.dumps(e).encode() + b"\n\n" for e in events)
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "text/event-stream" if sse else "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # no server-initiated stream
            self.reply(405, headers={"Allow": "POST, DELETE"})

        def do_DELETE(self) -> None:
            sid = self.headers.get("Mcp-Session-Id", "")
            with bridge.lock:
                child = bridge.sessions.pop(sid, None)
            if child:
                child.close()
            self.reply(200 if child else 404)

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/mcp":
                return self.reply(404)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self.reply(413)
            message = json.loads(self.rfile.read(length))
            sid = self.headers.get("Mcp-Session-Id")
            headers: dict[str, str] = {}
            with bridge.lock:
                if isinstance(message, dict) and message.get("method") == "initialize":
                    sid = uuid.uuid4().hex
                    bridge.sessions[sid] = Child(bridge.workspace)
                    headers["Mcp-Session-Id"] = sid
                child = bridge.sessions.get(sid) if sid else bridge.stateless
            if child is None:
                return self.reply(404, {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": "no session"}})
            notes, reply = child.exchange(message)
            if reply is None:
                return self.reply(202, headers=headers)
            token = isinstance(message, dict) and ((message.get("params") or {}).get("_meta") or {}).get("progressToken")
            self.reply(200, reply, headers, before=notes if token is not None else None)

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", default="http-stream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--ssl-certfile")
    parser.add_argument("--ssl-keyfile")
    parser.add_argument("--log-level")
    opts = parser.parse_args()
    if not TARGET:
        print("http_bridge: set MCP_BRIDGE_TARGET to the real binary", file=sys.stderr)
        return 2
    if opts.transport == "stdio":
        os.execv(TARGET, [TARGET, *sys.argv[1:]])
    bridge = Bridge(opts.workspace)
    server = ThreadingHTTPServer((opts.host, opts.port), handler_for(bridge))
    scheme = "http"
    if opts.ssl_certfile:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.ssl_certfile, opts.ssl_keyfile)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    print(f"http_bridge (self-test stand-in) listening on {scheme}://{opts.host}:{server.server_port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # children exit on stdin EOF
    sys.exit(main())
