"""Batch throughput against a local OpenAI-compatible server, beside plain LangChain ``abatch``.

    .venv/bin/python benchmarks/batch_throughput.py [--n 1600] [--latency 0.2] [--concurrency 32 128]
                                                    [--offline-n 100000] [--skip-offline]

The server runs in its own process with a fixed latency, answering like the offline drafter; every client
measurement runs in a fresh child process so CPU time and peak RSS are its own. For each concurrency it prints
``ideal_s`` = N × latency / concurrency, ``wall_s``, ``efficiency`` = ideal_s / wall_s, client CPU ms per item
and peak RSS, for our runner (``pmcomm draft``'s code path: guard, validation and output writing included)
and for ``ChatOpenAI.with_structured_output(...).abatch`` with the same ``max_concurrency``. Then an offline
run of ``--offline-n`` items (items/s, peak RSS) and a warm-cache re-run's speed-up. Prints JSON.
Targets: efficiency >= 0.95 at 32 and >= 0.8 at 128; <= 2 ms client CPU per item; <= 300 MB at 100,000 items.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _items(n: int) -> list[dict]:
    examples = json.loads((ROOT / "examples" / "scenarios.json").read_text(encoding="utf-8"))
    out = []
    for i in range(n):
        s = json.loads(json.dumps(examples[i % len(examples)]))
        s["id"] = f"bench-{i:06d}"
        s["situation"] += f" (#{i})"  # every scenario distinct, as in a real batch
        out.append(s)
    return out


def _write_jsonl(path: Path, n: int) -> None:
    examples = json.loads((ROOT / "examples" / "scenarios.json").read_text(encoding="utf-8"))
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            s = dict(examples[i % len(examples)])
            s["id"] = f"bench-{i:06d}"
            s["situation"] = s["situation"] + f" (#{i})"
            handle.write(json.dumps(s, ensure_ascii=False) + "\n")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of another process (Linux /proc), to show what the server itself costs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- children: each measurement in its own process ---------------------------------------------------------

def child_ours(args: argparse.Namespace) -> dict:
    from pmcomm_llm.batch.runner import RunOptions, arun_file
    from pmcomm_llm.core.settings import Settings

    settings = Settings.resolve(backend=args.backend, base_url=args.url or None, api_key="sk-bench",
                                model="bench-model", concurrency=args.concurrency, engine=args.engine,
                                max_retries=2)
    options = RunOptions(output=Path(args.out), cache=args.cache, summary=False)
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = asyncio.run(arun_file(args.input, settings, options))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"items": summary.drafted + summary.failed, "drafted": summary.drafted, "failed": summary.failed,
            "wall_s": round(wall, 3), "cpu_ms_per_item": round(cpu * 1000 / max(1, summary.drafted), 3),
            "peak_rss_mb": _peak_rss_mb()}


def child_langchain(args: argparse.Namespace) -> dict:
    from langchain_openai import ChatOpenAI

    from pmcomm_llm import load_prompts, parse_scenario
    from pmcomm_llm.drafting.chain import draft_schema

    prompts = load_prompts()
    inputs = [prompts.messages(parse_scenario(s)) for s in _items(args.n)]
    llm = ChatOpenAI(model="bench-model", api_key="sk-bench", base_url=args.url, timeout=60, max_retries=2)
    chain = llm.with_structured_output(draft_schema(), method="json_schema", strict=True)

    async def run() -> list:
        return await chain.abatch(inputs, config={"max_concurrency": args.concurrency})

    cpu0, t0 = time.process_time(), time.perf_counter()
    results = asyncio.run(run())
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ok = sum(1 for r in results if isinstance(r, dict) and r.get("body"))
    return {"items": len(results), "drafted": ok, "wall_s": round(wall, 3),
            "cpu_ms_per_item": round(cpu * 1000 / max(1, len(results)), 3), "peak_rss_mb": _peak_rss_mb()}


def _child(kind: str, **kw: object) -> dict:
    cmd = [sys.executable, __file__, "--child", kind]
    for k, v in kw.items():
        if v is True:
            cmd.append(f"--{k.replace('_', '-')}")
        elif v not in (None, False):
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    env = dict(os.environ)
    env["PMCOMM_CACHE_DIR"] = kw.get("cache_dir") or env.get("PMCOMM_CACHE_DIR", "")  # type: ignore[assignment]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"child {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1600)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--offline-n", type=int, default=100_000)
    parser.add_argument("--skip-offline", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--input")
    parser.add_argument("--out")
    parser.add_argument("--backend", default="openai")
    parser.add_argument("--engine", default="http")
    parser.add_argument("--cache", action="store_true")
    parser.add_argument("--cache-dir")
    args = parser.parse_args()
    if args.child:
        if len(args.concurrency) != 1:
            raise SystemExit("a child takes one --concurrency")
        args.concurrency = args.concurrency[0]
        result = child_ours(args) if args.child == "ours" else child_langchain(args)
        print(json.dumps(result))
        return

    server = subprocess.Popen([sys.executable, "-m", "pmcomm_llm.testing.server", "--latency", str(args.latency),
                               "--responder", "pmcomm_llm.testing.responders:offline_responder"],
                              stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().split()[1]  # type: ignore[union-attr]
    report: dict = {"n": args.n, "latency_s": args.latency, "cores": os.cpu_count(), "runs": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "in.jsonl"
            _write_jsonl(src, args.n)
            for c in args.concurrency:
                ideal = args.n * args.latency / c
                row: dict = {"concurrency": c, "ideal_s": round(ideal, 3)}
                for name, kind, extra in (("pmcomm", "ours", {"engine": "http"}),
                                          ("pmcomm_langchain_engine", "ours", {"engine": "langchain"}),
                                          ("langchain_abatch", "langchain", {})):
                    out = Path(tmp) / f"out-{name}-{c}.jsonl"
                    server_cpu = _cpu_seconds(server.pid)
                    res = _child(kind, n=args.n, concurrency=c, url=url, input=src, out=out, **extra)
                    res["efficiency"] = round(ideal / res["wall_s"], 3)
                    res["server_cpu_ms_per_item"] = round((_cpu_seconds(server.pid) - server_cpu) * 1000 / args.n, 3)
                    row[name] = res
                report["runs"].append(row)
            cache_dir = str(Path(tmp) / "cache")
            cold = _child("ours", n=args.n, concurrency=32, url=url, input=src, out=Path(tmp) / "cold.jsonl",
                          cache=True, cache_dir=cache_dir)
            warm = _child("ours", n=args.n, concurrency=32, url=url, input=src, out=Path(tmp) / "warm.jsonl",
                          cache=True, cache_dir=cache_dir)
            report["warm_cache"] = {"cold_wall_s": cold["wall_s"], "warm_wall_s": warm["wall_s"],
                                    "speedup": round(cold["wall_s"] / warm["wall_s"], 1)}
            if not args.skip_offline:
                big = Path(tmp) / "offline.jsonl"
                _write_jsonl(big, args.offline_n)
                res = _child("ours", n=args.offline_n, concurrency=32, input=big, out=Path(tmp) / "offline-out.jsonl",
                             backend="offline")
                res["items_per_s"] = round(res["items"] / res["wall_s"], 1)
                report["offline"] = res
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
