"""Side-by-side run of our server and the alternatives on this machine, driven by wrk.

Called by benches/alternatives.sh (which installs and builds everything); stdlib only.
Each server answers the same twelve-tool `tools/list` (tools.json, ~10 KB) and a
`tools/call read_file` of the same small file, each with the stateless request its SDK
speaks. Per round every server is started fresh, in a rotating order, and loaded with
`wrk -t2 -c64` for each request kind (a short warm-up, then the measured run); what is
reported is the median over rounds. Also: idle RSS after start, peak RSS (VmHWM) after the
load, server CPU per 10k requests, and start-up time (spawn to the first 200 answer).
Only processes this script starts are stopped, by PID. Prints Markdown to stdout.

Usage: run.py --ours BIN --rmcp BIN --ceiling BIN [--rounds N] [--seconds S] [--only NAMES]
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INTEROP = ROOT / "tests" / "interop"
LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_DEADLINE_S = 30
# Longest wrk may take beyond its own duration before we give up on it.
WRK_SLACK_S = 30

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
READ_ARGS = {"name": "read_file", "arguments": {"path": "specs/small.md"}}


def modern(method, name=None, params=None):
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
    if name:
        headers["Mcp-Name"] = name
    body = {"jsonrpc": "2.0", "id": 1, "method": method,
            "params": {**(params or {}), "_meta": MODERN_META}}
    return headers, json.dumps(body)


def legacy(method, params=None):
    # Stateless legacy request: no initialize, no session (what a stateless SDK server takes).
    body = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params:
        body["params"] = params
    return {"MCP-Protocol-Version": "2025-06-18"}, json.dumps(body)


def servers(args, root):
    """name -> (command, era, {kind: (headers, body)}, path)."""
    mod = {"tools/list": modern("tools/list"),
           "read_file": modern("tools/call", "read_file", READ_ARGS)}
    leg = {"tools/list": legacy("tools/list"), "read_file": legacy("tools/call", READ_ARGS)}
    py = str(INTEROP / ".venv" / "bin" / "python")
    return {
        "mcp-server-spec (ours)": (
            [args.ours, "--transport", "http-stream", "--port", "0", "--workspace", root],
            "2026-07-28", mod, "/mcp"),
        "rmcp (official Rust SDK)": (
            [args.rmcp, "--port", "0", "--root", root, "--tools", str(HERE / "tools.json")],
            "2026-07-28", mod, "/mcp"),
        "TypeScript SDK": (
            ["node", str(HERE / "ts_server.mjs"), "--port", "0", "--root", root],
            "2025-06-18 stateless", leg, "/mcp"),
        "Python SDK": (
            [py, str(HERE / "py_server.py"), "--port", "0", "--root", root],
            "2026-07-28", mod, "/mcp"),
        "ceiling: tiny_http, fixed body of the same length": (
            [args.ceiling], "-", {"tools/list": ({}, "")}, "/sized"),
    }


class Running:
    """One started server: its PID, port and log."""

    def __init__(self, cmd, env, log_dir):
        self.log_path = Path(log_dir) / f"server-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=self.log,
                                     cwd=ROOT)
        self.port = None
        deadline = self.t0 + START_DEADLINE_S
        while self.port is None:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                sys.exit(f"{cmd[0]} did not report its address: {self.log_path.read_text()[-2000:]}")
            m = LISTENING.search(self.log_path.read_bytes())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.001)

    def status(self, field):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def request_bytes(port, path, headers, body):
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    head += "Accept: application/json, text/event-stream\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n"
    return head.encode() + body.encode()


def ask(port, path, headers, body, timeout=5):
    """One request on a new connection: (status, body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request_bytes(port, path, headers, body))
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    head, _, rest = got.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
    return status, rest


def check_answer(name, kind, status, body):
    """The answer is a real result, not an error: a wrong setup must not look fast."""
    if status != 200:
        sys.exit(f"{name} {kind}: HTTP {status}: {body[:300]!r}")
    if name.startswith("ceiling"):
        return
    if body.lstrip().startswith(b"event:") or body.lstrip().startswith(b"data:"):
        sys.exit(f"{name} {kind}: answered SSE, expected plain JSON")
    # Chunked answers (Express) carry size lines; take the JSON object between braces.
    text = body[body.find(b"{"): body.rfind(b"}") + 1]
    result = json.loads(text).get("result")
    if kind == "tools/list":
        assert result and len(result["tools"]) == 12, f"{name}: {text[:300]!r}"
    else:
        assert result and result.get("isError") is False, f"{name}: {text[:300]!r}"
        assert "A small file" in result["content"][0]["text"], f"{name}: {text[:300]!r}"


LUA = """
wrk.method = "POST"
wrk.path = os.getenv("WRK_PATH")
wrk.body = os.getenv("WRK_BODY")
for line in string.gmatch(os.getenv("WRK_HEADERS"), "[^\\n]+") do
  local k, v = string.match(line, "^([^:]+):%s*(.*)$")
  wrk.headers[k] = v
end
"""


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(port, path, headers, body, seconds, lua_path):
    hdrs = {"Content-Type": "application/json",
            "Accept": "application/json, text/event-stream", **headers}
    env = dict(os.environ, WRK_PATH=path, WRK_BODY=body,
               WRK_HEADERS="\n".join(f"{k}: {v}" for k, v in hdrs.items()))
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", "-s", lua_path,
         f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, timeout=seconds + WRK_SLACK_S).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(m.group(1)) if m else 0
    return {"rps": rps, "p50": p50, "p99": p99, "errors": errors, "requests": total}


def start_time_ms(cmd, env, log_dir, path, headers, body, name):
    """Spawn to the first 200 answer, polling the port as soon as it is known."""
    running = Running(cmd, env, log_dir)
    try:
        while True:
            try:
                status, answer = ask(running.port, path, headers, body)
                if status == 200:
                    return (time.monotonic() - running.t0) * 1000
            except OSError:
                pass
            if time.monotonic() - running.t0 > START_DEADLINE_S:
                sys.exit(f"{name}: no 200 answer within {START_DEADLINE_S} s")
            time.sleep(0.0005)
    finally:
        running.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ours", required=True)
    p.add_argument("--rmcp", required=True)
    p.add_argument("--ceiling", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--starts", type=int, default=10)
    p.add_argument("--only", default="")
    args = p.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (benches/alternatives.sh installs it)")

    scratch = tempfile.mkdtemp(prefix="mcp-alternatives-")
    root = Path(scratch) / "ws"
    (root / "specs").mkdir(parents=True)
    (root / "specs" / "small.md").write_text("# Small\n\nA small file for read_file.\n")
    lua_path = str(Path(scratch) / "post.lua")
    Path(lua_path).write_text(LUA)
    table = servers(args, str(root))
    if args.only:
        table = {k: v for k, v in table.items() if any(o in k for o in args.only.split(","))}
    env = dict(os.environ)
    # The ceiling is the http bench binary in its ceiling mode, sized like our tools/list.
    ours_len = None

    results = {name: {"tools/list": [], "read_file": [], "idle": [], "peak": [], "cpu": []}
               for name in table}
    names = list(table)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            cmd, _era, reqs, path = table[name]
            run_env = dict(env)
            if name.startswith("ceiling"):
                run_env["MCP_BENCH_CEILING"] = "1"
                run_env["MCP_BENCH_CEILING_BYTES"] = str(ours_len or 9714)
            server = Running(cmd, run_env, scratch)
            try:
                for kind, (headers, body) in reqs.items():
                    status, answer = ask(server.port, path, headers, body)
                    check_answer(name, kind, status, answer)
                    if name.startswith("mcp-server-spec") and kind == "tools/list":
                        ours_len = len(answer)
                time.sleep(0.5)
                results[name]["idle"].append(server.status("VmRSS"))
                cpu0, served = server.cpu_seconds(), 0
                for kind, (headers, body) in reqs.items():
                    wrk(server.port, path, headers, body, args.warmup, lua_path)
                    got = wrk(server.port, path, headers, body, args.seconds, lua_path)
                    results[name][kind].append(got)
                    served += got["requests"]
                    print(f"round {r + 1} {name} {kind}: {got['rps']:.0f} req/s, "
                          f"p99 {got['p99']:.2f} ms, errors {got['errors']}", file=sys.stderr)
                # CPU over the measured and warm-up runs, per request of the measured ones
                # (warm-up requests are ~20 % more: an upper bound, the same for every server).
                results[name]["cpu"].append((server.cpu_seconds() - cpu0) / served * 10_000)
                results[name]["peak"].append(server.status("VmHWM"))
            finally:
                server.stop()

    starts = {}
    for name in names:
        cmd, _era, reqs, path = table[name]
        run_env = dict(env)
        if name.startswith("ceiling"):
            run_env["MCP_BENCH_CEILING"] = "1"
        headers, body = reqs["tools/list"]
        n = args.starts if not name.startswith(("TypeScript", "Python")) else max(3, args.starts // 2)
        starts[name] = statistics.median(
            start_time_ms(cmd, run_env, scratch, path, headers, body, name) for _ in range(n))

    med = statistics.median
    print(f"wrk -t2 -c64, {args.seconds} s per run after a {args.warmup} s warm-up, "
          f"median of {args.rounds} rounds; each server started fresh per round.\n")
    print("| server | era of the requests | tools/list req/s | p99 ms | read_file req/s | p99 ms "
          "| errors | CPU s per 10k req | idle RSS MiB | peak RSS MiB | start ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        res, era = results[name], table[name][1]
        tl = res["tools/list"]
        rf = res["read_file"]
        errors = sum(x["errors"] for x in tl + rf)
        read = "-" if name.startswith("ceiling") else f"{med(x['rps'] for x in rf):.0f}"
        read_p99 = "-" if name.startswith("ceiling") else f"{med(x['p99'] for x in rf):.2f}"
        print(f"| {name} | {era} | {med(x['rps'] for x in tl):.0f} | "
              f"{med(x['p99'] for x in tl):.2f} | {read} | {read_p99} | {errors} | "
              f"{med(res['cpu']):.2f} | {med(res['idle']) / 1024:.1f} | "
              f"{med(res['peak']) / 1024:.1f} | {starts[name]:.1f} |")
    ours = next((n for n in names if n.startswith("mcp-server-spec")), None)
    if ours:
        # Ratios of each round's own pair (the drift of a shared machine cancels better
        # than in a ratio of two medians), with their spread.
        print("\n| ours ÷ alternative, median of the rounds' own ratios (range) "
              "| tools/list req/s | read_file req/s | peak RSS |")
        print("| --- | --- | --- | --- |")
        for name in names:
            if name == ours or name.startswith("ceiling"):
                continue
            a, b = results[ours], results[name]

            def paired(kind):
                ratios = [x["rps"] / y["rps"] for x, y in zip(a[kind], b[kind])]
                return f"{med(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"

            print(f"| {name} | {paired('tools/list')} | {paired('read_file')} | "
                  f"{med(a['peak']) / med(b['peak']):.2f}× |")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
