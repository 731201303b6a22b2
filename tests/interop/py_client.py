"""The official Python SDK (`mcp`, hash-pinned in requirements.txt) against the release binary.

Runs, on one transport (stdio, http or https):
- legacy: mode="legacy" once per handshake revision. The SDK offers only its newest handshake
  revision (2025-11-25) and accepts any of the four in the answer; for the three older ones
  this script sets the module constant the SDK's `initialize` reads (`LATEST_HANDSHAKE_VERSION`
  in mcp.client.session) for the duration of that run, so the SDK's own code parses an answer
  in that revision. Nothing else is patched.
- modern: mode="auto" (server/discover probe, stays 2026-07-28) and mode="2026-07-28"
  (adopt without a probe, as a client with a cached verdict does).

Each run lists and gets every prompt, lists and calls every tool, checks error cases, and
reads back a file over 1 MiB (over HTTP that is the SDK's 1 MiB SSE-event trap: the answer
must be plain JSON). Prints `interop: N passed, M failed`; exits 1 on any failure.

Usage: python py_client.py [--transport stdio|http|https] [--bin PATH] [--cert PEM --key PEM]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.client.session as sdk_session
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

HERE = Path(__file__).resolve().parent
EXPECTED: dict[str, Any] = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
ORDER: list[str] = [*EXPECTED["legacyRevisions"], EXPECTED["modernRevision"]]
MODERN: str = EXPECTED["modernRevision"]

# Longest one run (connect plus every check) may take, and the per-request timeout.
RUN_DEADLINE_S = 60.0
REQUEST_TIMEOUT_S = 20.0
# Longest the HTTP server may take to log its bound URL.
LISTEN_DEADLINE_S = 10.0


def has(feature: str, revision: str) -> bool:
    """Whether `revision` carries the wire feature named in expected.json's `since` table."""
    return ORDER.index(revision) >= ORDER.index(EXPECTED["since"][feature])


class Tally:
    """Counts named cases; a case is an async callable that raises on the first mismatch."""

    def __init__(self, prefix: str, only: str | None) -> None:
        self.prefix = prefix
        self.only = re.compile(only) if only else None
        self.passed = 0
        self.failed = 0

    async def check(self, name: str, case: Callable[[], Awaitable[None]]) -> bool:
        full = f"{self.prefix} {name}"
        if self.only and not self.only.search(full):
            return True
        try:
            with anyio.fail_after(RUN_DEADLINE_S):
                await case()
        except Exception as err:  # any failure of the case is reported, then the run goes on
            self.failed += 1
            helpers = {"equal", "expect", "rejects_with", "text_of"}
            frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == __file__ and f.name not in helpers]
            where = f"py_client.py:{frames[-1].lineno}" if frames else ""
            print(f"FAIL {full}\n     {type(err).__name__}: {str(err)[:1500]}\n     {where}", flush=True)
            return False
        self.passed += 1
        print(f"ok   {full}", flush=True)
        return True

    def fail(self, what: str) -> None:
        self.failed += 1
        print(f"FAIL {self.prefix} {what}", flush=True)


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def equal(got: Any, want: Any, what: str) -> None:
    if got != want:
        raise AssertionError(f"{what}: got {got!r:.600}, want {want!r:.600}")


async def rejects_with(call: Awaitable[Any], code: int, pattern: str) -> None:
    try:
        value = await call
    except MCPError as err:
        equal(err.code, code, f"error code (message: {err.message})")
        expect(re.search(pattern, err.message) is not None, f"message {err.message!r} should match {pattern!r}")
        return
    raise AssertionError(f"expected JSON-RPC error {code}, got result {str(value)[:300]}")


def text_of(result: Any) -> str:
    equal(len(result.content), 1, "content blocks")
    equal(result.content[0].type, "text", "content type")
    return result.content[0].text


def dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, exclude_none=True)


def sample_value(schema: dict[str, Any] | None) -> Any:
    """An argument for a prompt or tool named nowhere in expected.json, from its schema."""
    schema = schema or {}
    # An enum admits only its listed values: a made-up string would be a protocol error.
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    return {"array": [], "boolean": False, "integer": 1, "number": 1, "object": {}}.get(kind, "interop sample")


def fill(args: dict[str, Any], slug: str) -> dict[str, Any]:
    return json.loads(json.dumps(args).replace("{slug}", slug))


async def prompt_checks(tally: Tally, label: str, client: Client, revision: str) -> None:
    """Every prompt the server lists: the seed ones field by field, the rest by shape."""
    titles = has("titles", revision)
    listed: list[Any] = []

    async def prompts_list() -> None:
        prompts = (await client.list_prompts()).prompts
        listed.extend(prompts)
        names = [p.name for p in prompts]
        equal(len(set(names)), len(names), "names are unique")
        for want in EXPECTED["prompts"]:
            got = next((p for p in prompts if p.name == want["name"]), None)
            expect(got is not None, f"{want['name']} is listed (got {names})")
            equal(got.description, want["description"], f"{want['name']} description")
            equal(got.title, want["title"] if titles else None, f"{want['name']} title")
            args = {a.name: dump(a) for a in got.arguments or []}
            for arg in want["arguments"]:
                equal(args.get(arg["name"]), arg, f"{want['name']} argument {arg['name']}")
            for name, extra in args.items():
                if all(w["name"] != name for w in want["arguments"]):
                    expect(not extra.get("required"), f"{want['name']}: added argument {name} must be optional")
        for p in prompts:
            if not titles:
                equal(p.title, None, f"{p.name} has no title before 2025-06-18")

    await tally.check(f"{label} prompts/list: every prompt, seed metadata exact", prompts_list)
    names = [p.name for p in listed] or [p["name"] for p in EXPECTED["prompts"]] + list(EXPECTED["promptCalls"])
    for name in names:
        seed = next((p for p in EXPECTED["prompts"] if p["name"] == name), None)
        known = EXPECTED["promptCalls"].get(name)
        listing = next((p for p in listed if p.name == name), None)

        async def prompts_get(name: str = name, seed: Any = seed, known: Any = known, listing: Any = listing) -> None:
            if seed is not None:
                args = seed["call"]
            elif known is not None:
                args = known
            else:
                args = {a.name: "interop sample" for a in (listing.arguments or []) if a.required} if listing else {}
            try:
                got = await client.get_prompt(name, args)
            except MCPError as err:
                if seed is None and known is None and err.code == -32602:
                    return  # unknown prompt, sample arguments refused
                raise
            expect(len(got.messages) >= 1, "at least one message")
            for m in got.messages:
                expect(m.role in ("user", "assistant"), f"role {m.role}")
                if m.content.type == "text":
                    expect(len(m.content.text) > 0, "non-empty text")
            if seed is not None:
                equal(got.description, seed["description"], "description")
                equal(got.messages[0].role, "user", "role")
                equal(got.messages[0].content.type, "text", "content type")
                text = got.messages[0].content.text
                expect(text.startswith(seed["textPrefix"]), f"text starts with the seed text: {text[:200]!r}")

        suffix = "" if seed or known is not None else " (not in expected.json)"
        await tally.check(f"{label} prompts/get {name}{suffix}", prompts_get)


async def tool_list_check(tally: Tally, label: str, client: Client, revision: str) -> list[Any]:
    """Every tool the server lists: the seed ones field by field, the rest by shape."""
    titles = has("titles", revision)
    structured = has("structuredContent", revision)
    listed: list[Any] = []

    async def tools_list() -> None:
        tools = (await client.list_tools()).tools
        listed.extend(tools)
        names = [t.name for t in tools]
        equal(len(set(names)), len(names), "names are unique")
        for t in tools:
            expect(bool(t.description), f"{t.name} description")
            equal(t.input_schema.get("type"), "object", f"{t.name} inputSchema.type")
            if not titles:
                equal(t.title, None, f"{t.name} has no title before 2025-06-18")
            if not has("annotations", revision):
                equal(t.annotations, None, f"{t.name} annotations before 2025-03-26")
            if not structured:
                equal(t.output_schema, None, f"{t.name} outputSchema before 2025-06-18")
        for want in EXPECTED["tools"]:
            name = want["name"]
            got = next((t for t in tools if t.name == name), None)
            expect(got is not None, f"{name} is listed (got {names})")
            equal(got.input_schema.get("required"), want["required"], f"{name} required")
            equal(sorted(got.input_schema["properties"]), sorted(want["required"]), f"{name} properties")
            equal(got.title, want["title"] if titles else None, f"{name} title")
            if has("annotations", revision):
                equal(dump(got.annotations), want["annotations"], f"{name} annotations")
            if structured and want["outputRequired"]:
                equal((got.output_schema or {}).get("required"), want["outputRequired"], f"{name} outputSchema")
            else:
                equal(got.output_schema, None, f"{name} outputSchema")

    await tally.check(f"{label} tools/list: every tool, seed schemas, titles, annotations", tools_list)
    return listed


async def other_tool_calls(tally: Tally, label: str, client: Client, revision: str, tools: list[Any], slug: str) -> None:
    """Calls every listed tool beyond the seed two: those in expected.json must succeed."""
    structured = has("structuredContent", revision)
    seed = {t["name"] for t in EXPECTED["tools"]}
    listed = {t.name: t for t in tools}
    known = [name for name in EXPECTED["toolCalls"] if name in listed]
    unknown = [t.name for t in tools if t.name not in seed and t.name not in EXPECTED["toolCalls"]]
    for name in known + unknown:
        tool = listed[name]
        is_known = name in EXPECTED["toolCalls"]

        async def call(name: str = name, tool: Any = tool, is_known: bool = is_known) -> None:
            if is_known:
                args = fill(EXPECTED["toolCalls"][name], slug)
            else:
                props = tool.input_schema.get("properties") or {}
                args = {p: sample_value(props.get(p)) for p in tool.input_schema.get("required") or []}
            got = await client.call_tool(name, args)
            expect(len(got.content) >= 1, "content")
            if not is_known:
                return  # the SDK accepted the result: that is the check
            equal(got.is_error, False, f"isError ({str(got.content)[:300]})")
            if structured and tool.output_schema:
                expect(isinstance(got.structured_content, dict), "structuredContent")

        suffix = "" if is_known else " (not in expected.json)"
        await tally.check(f"{label} tools/call {name}{suffix}", call)


async def run_checks(tally: Tally, label: str, client: Client, revision: str, tag: str) -> None:
    """Every check one client runs against one connected server in one revision."""
    structured = has("structuredContent", revision)
    slug = re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")

    await prompt_checks(tally, label, client, revision)
    tools = await tool_list_check(tally, label, client, revision)

    path = f"interop/{slug}/notes.md"
    first = f"# {tag}\n\nWhen a client calls, the server shall answer. ünïcode ✓\n"
    second = f"{first}\nSecond version.\n"

    async def create_new() -> None:
        made = await client.call_tool("create_file", {"path": path, "content": first})
        equal(made.is_error, False, f"create_file isError ({made.content})")
        expect(path in text_of(made), "create_file text names the path")
        want = {"path": path, "bytes": len(first.encode()), "created": True} if structured else None
        equal(made.structured_content, want, "structuredContent")
        read = await client.call_tool("read_file", {"path": path})
        equal(read.is_error, False, "read_file isError")
        equal(text_of(read), first, "read back")

    await tally.check(f"{label} tools/call create_file (new) then read_file", create_new)

    async def overwrite() -> None:
        made = await client.call_tool("create_file", {"path": path, "content": second})
        equal(made.is_error, False, "create_file isError")
        if structured:
            equal(made.structured_content, {"path": path, "bytes": len(second.encode()), "created": False}, "sc")
        read = await client.call_tool("read_file", {"path": path})
        equal(text_of(read), second, "read back")

    await tally.check(f"{label} tools/call create_file (overwrite) then read_file", overwrite)

    async def large() -> None:
        big_path = f"interop/{slug}/big.txt"
        line = "EARS: When the file is large, the server shall return it whole.\n"
        size = EXPECTED["largeFileBytes"]
        big = (line * (size // len(line) + 1))[:size]
        made = await client.call_tool("create_file", {"path": big_path, "content": big})
        equal(made.is_error, False, f"create_file isError ({str(made.content)[:300]})")
        read = await client.call_tool("read_file", {"path": big_path})
        equal(read.is_error, False, "read_file isError")
        text = text_of(read)
        equal(len(text), len(big), "length")
        expect(text == big, "content differs")

    await tally.check(f"{label} tools/call read_file of {EXPECTED['largeFileBytes']} bytes (over 1 MiB)", large)

    await other_tool_calls(tally, label, client, revision, tools, slug)

    async def unknown_tool() -> None:
        await rejects_with(client.call_tool("no_such_tool", {}), -32602, "no_such_tool")

    await tally.check(f"{label} error: unknown tool is JSON-RPC -32602", unknown_tool)

    async def missing_argument() -> None:
        await rejects_with(client.get_prompt("generate-requirements", {}), -32602, "requirements")

    await tally.check(f"{label} error: prompts/get without required argument is -32602", missing_argument)

    async def unknown_prompt() -> None:
        await rejects_with(client.get_prompt("no-such-prompt", {}), -32602, "no-such-prompt")

    await tally.check(f"{label} error: unknown prompt is -32602", unknown_prompt)

    async def outside() -> None:
        got = await client.call_tool("read_file", {"path": "../outside"})
        equal(got.is_error, True, "isError")
        expect(len(text_of(got)) > 0, "says why")

    await tally.check(f"{label} error: read_file ../outside is an isError result", outside)

    async def missing_file() -> None:
        got = await client.call_tool("read_file", {"path": f"interop/{slug}/missing.md"})
        equal(got.is_error, True, "isError")
        expect(len(text_of(got)) > 0, "says why")

    await tally.check(f"{label} error: read_file of a missing file is an isError result", missing_file)

    async def schema_violation() -> None:
        call = client.call_tool("create_file", {"path": f"interop/{slug}/x.md"})
        if has("schemaErrorsAreToolErrors", revision):
            got = await call
            equal(got.is_error, True, "isError")
            expect("content" in text_of(got), "names the missing argument")
        else:
            await rejects_with(call, -32602, "content")

    await tally.check(f"{label} error: create_file without content (schema violation)", schema_violation)


async def hook_checks(tally: Tally, label: str, client: Client, revision: str, sdk_errors: list[str]) -> None:
    """Progress, logging level and the SDK's own error channel."""

    async def progress() -> None:
        updates: list[tuple[float, float | None, str | None]] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            updates.append((done, total, message))

        got = await client.call_tool("read_file", {"path": "specs/interop-fixture/tasks.md"}, progress_callback=on_progress)
        equal(got.is_error, False, "isError")
        expect(text_of(got).startswith("# Tasks"), "content")
        expect(len(updates) >= 1, "the server sends notifications/progress for a request with a token (README)")
        for done, total, _ in updates:
            expect(total is None or done <= total, f"progress {done} <= total {total}")

    await tally.check(f"{label} progress: a call with a progress token gets updates, then its result", progress)

    if revision != MODERN:

        async def set_level() -> None:
            with warnings.catch_warnings():  # deprecated only for 2026-07-28
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.set_logging_level("debug")

        await tally.check(f"{label} logging/setLevel is accepted", set_level)

    async def no_errors() -> None:
        equal(sdk_errors, [], "errors the SDK raised while talking to the server")

    await tally.check(f"{label} the SDK reported no protocol error (message_handler)", no_errors)


class HttpServer:
    """`BIN --transport http-stream --port 0` (TLS files for https), stopped by `stop()`."""

    def __init__(self, opts: argparse.Namespace, workspace: str) -> None:
        args = [opts.bin, "--transport", "http-stream", "--host", "127.0.0.1", "--port", "0", "--workspace", workspace]
        if opts.transport == "https":
            args += ["--ssl-certfile", opts.cert, "--ssl-keyfile", opts.key]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log = ""
        self.url: str | None = None
        self._found = threading.Event()
        self._reader = threading.Thread(target=self._read, name="server-stderr", daemon=True)
        self._reader.start()
        if not self._found.wait(LISTEN_DEADLINE_S) or self.url is None:
            self.stop()
            raise RuntimeError(f"no 'listening on' line within {LISTEN_DEADLINE_S} s:\n{self.log}")
        base = self.url.rstrip("/")
        self.endpoint = base if base.endswith("/mcp") else f"{base}/mcp"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.log += raw.decode("utf-8", "replace")
            match = re.search(r"listening on (https?://\S+)", self.log)
            if match and self.url is None:
                self.url = match.group(1)
                self._found.set()
        self._found.set()  # exited before listening: wake the waiter

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)


async def connect(
    stack: AsyncExitStack, opts: argparse.Namespace, workspace: str, http: HttpServer | None, mode: str, errors: list[str]
) -> Client:
    if http is None:
        args = ["--transport", "stdio", "--workspace", workspace, "--log-level", "warn"]
        server: Any = StdioServerParameters(command=opts.bin, args=args)
    else:
        verify: Any = ssl.create_default_context(cafile=opts.cert) if opts.transport == "https" else True
        timeout = httpx2.Timeout(REQUEST_TIMEOUT_S)
        http_client = await stack.enter_async_context(httpx2.AsyncClient(verify=verify, timeout=timeout))
        server = streamable_http_client(http.endpoint, http_client=http_client)
    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):  # what the SDK could not accept from the server
            errors.append(f"{type(message).__name__}: {message}")

    client = Client(server, mode=mode, read_timeout_seconds=REQUEST_TIMEOUT_S, message_handler=on_message)
    return await stack.enter_async_context(client)


async def run_one(tally: Tally, opts: argparse.Namespace, workspace: str, http: HttpServer | None, label: str, revision: str, mode: str) -> None:
    modern = revision == MODERN
    step = "server/discover" if modern and mode == "auto" else "adopt" if modern else "initialize"
    sdk_errors: list[str] = []
    async with AsyncExitStack() as stack:
        # Connecting enters the SDK's task groups, so it happens here and not inside a case's
        # cancel scope; the SDK's own request timeout bounds the handshake.
        offered = sdk_session.LATEST_HANDSHAKE_VERSION
        if not modern:
            sdk_session.LATEST_HANDSHAKE_VERSION = revision  # type: ignore[misc]
        try:
            client = await connect(stack, opts, workspace, http, mode, sdk_errors)
        except Exception as err:  # reported as this run's handshake failure
            tally.fail(f"{label} {step}\n     {type(err).__name__}: {err}")
            return
        finally:
            sdk_session.LATEST_HANDSHAKE_VERSION = offered  # type: ignore[misc]

        async def handshake() -> None:
            equal(client.protocol_version, revision, "negotiated revision")
            if mode != MODERN:  # a pinned adopt has no handshake answer to read these from
                equal(client.server_info.name if client.server_info else None, EXPECTED["serverName"], "server name")
                caps = client.server_capabilities
                expect(caps.tools is not None and caps.prompts is not None, f"capabilities {caps}")
                expect(isinstance(client.instructions, str), "instructions")
            if modern and mode == "auto":
                discovered = client.session.discover_result
                expect(discovered is not None, "auto mode adopted a discover result")
                want = [MODERN, *reversed(EXPECTED["legacyRevisions"])]
                equal(discovered.supported_versions, want, "supportedVersions")
            if not modern:
                with warnings.catch_warnings():  # ping is deprecated only for 2026-07-28
                    warnings.simplefilter("ignore", MCPDeprecationWarning)
                    await client.send_ping()

        if await tally.check(f"{label} {step}", handshake):
            tag = f"py-{opts.transport}-{label}".replace("(", "-").replace(")", "")
            await run_checks(tally, label, client, revision, tag)
            await hook_checks(tally, label, client, revision, sdk_errors)


def parse_args() -> argparse.Namespace:
    default_bin = os.environ.get("MCP_SERVER_BIN") or str(HERE.parent.parent / "target" / "release" / "mcp-server-spec")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=["stdio", "http", "https"], default="stdio")
    parser.add_argument("--bin", default=default_bin)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--only", help="run only cases whose name matches this regex")
    opts = parser.parse_args()
    if opts.transport == "https" and not (opts.cert and opts.key):
        parser.error("--transport https needs --cert and --key")
    return opts


async def main() -> int:
    opts = parse_args()
    tally = Tally(f"python-mcp {opts.transport}", opts.only)
    runs = [(rev, rev, "legacy") for rev in EXPECTED["legacyRevisions"]]
    runs += [(f"{MODERN}(auto)", MODERN, "auto"), (f"{MODERN}(pin)", MODERN, MODERN)]
    workspace = tempfile.mkdtemp(prefix="mcp-interop-py-")
    shutil.copytree(HERE / "fixture", workspace, dirs_exist_ok=True)
    http: HttpServer | None = None
    try:
        if opts.transport != "stdio":
            http = HttpServer(opts, workspace)
        for label, revision, mode in runs:
            await run_one(tally, opts, workspace, http, label, revision, mode)
    except Exception as err:  # a harness failure still prints the summary line
        tally.fail(f"harness: {type(err).__name__}: {err}")
    finally:
        if http is not None:
            http.stop()
        shutil.rmtree(workspace, ignore_errors=True)
    print(f"interop: {tally.passed} passed, {tally.failed} failed", flush=True)
    return 0 if tally.failed == 0 and tally.passed > 0 else 1


def _on_sigterm(*_: Any) -> None:
    raise SystemExit(1)  # run.sh's timeout: unwind so `finally` stops the HTTP server


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.exit(anyio.run(main))
