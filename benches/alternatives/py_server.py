"""Comparison server on the official Python SDK (`mcp`, the version hash-locked in
tests/interop/requirements.txt), written with the SDK's low-level Server and its own
Streamable HTTP app (Starlette) in stateless mode with JSON answers, served by uvicorn as
the SDK's `run` does. tools/list returns benches/alternatives/tools.json (our twelve tools),
tools/call read_file reads a file below --root. Used only by benches/alternatives.sh.

Run: tests/interop/.venv/bin/python benches/alternatives/py_server.py --port 0 --root DIR
Prints `listening on http://127.0.0.1:PORT` to stderr once bound.
"""

import argparse
import json
import socket
import sys
from pathlib import Path, PurePosixPath

import mcp_types as types
import uvicorn
from mcp.server.lowlevel import Server

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--root", default=".")
parser.add_argument("--tools", default=str(Path(__file__).with_name("tools.json")))
args = parser.parse_args()
root = Path(args.root)
tools = [types.Tool.model_validate(t) for t in json.loads(Path(args.tools).read_text())]


def tool_error(text):
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=True)


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=tools)


async def call_tool(ctx, params):
    if params.name != "read_file":
        return tool_error("not implemented in the comparison server")
    path = str((params.arguments or {}).get("path", ""))
    rel = PurePosixPath(path)
    if not path or rel.is_absolute() or ".." in rel.parts:
        return tool_error("path must be relative and stay inside the root")
    try:
        text = (root / rel).read_text(encoding="utf-8")
    except OSError as e:
        return tool_error(f"cannot read {path}: {e.strerror}")
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=False)


server = Server("py-sdk-comparison", on_list_tools=list_tools, on_call_tool=call_tool)
app = server.streamable_http_app(json_response=True, stateless_http=True, host="127.0.0.1")

# Bind and listen first so the real port can be printed (uvicorn takes an open socket).
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", args.port))
sock.listen(2048)  # connections made from now on wait for uvicorn instead of being refused
print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
config = uvicorn.Config(app, log_level="warning", access_log=False)
uvicorn.Server(config).run(sockets=[sock])
