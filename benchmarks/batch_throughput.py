"""Batch throughput of pmcomm's one request path, beside plain LangChain ``abatch`` and a bare aiohttp client.

    .venv/bin/python benchmarks/batch_throughput.py [--n 1600] [--latency 0.2] [--concurrency 32 128]
        [--long-latency 2.0] [--long-concurrency 256] [--long-n 1600] [--repeat 3] [--transport-n 2000]

A local OpenAI-compatible server (``pmcomm_llm.testing.server``, answering like the offline drafter) runs in its
own process with a fixed latency. Every measurement runs in a fresh child process, so CPU time and peak RSS are
its own, and each child does its one-time setup (imports, prompt and lexicon loading, clients, the input) before
its clock starts — for every runner alike. For each setting the runners are run ``--repeat`` times, their order
rotated each round, and the minimum and median are printed:

- ``pmcomm``: ``pmcomm draft``'s code path (``batch.runner.arun_file``: reading, validation, prompt, the model
  step, the guard, output writing);
- ``langchain_abatch``: ``ChatOpenAI.with_structured_output(schema, method="json_schema").abatch`` with the same
  ``max_concurrency`` and pre-rendered messages (no guard, no output file);
- ``bare_aiohttp``: pre-encoded bodies posted with one aiohttp session and the replies ``json.loads``-ed — the
  floor any client can reach on this machine.

``efficiency`` = ideal / wall, with ideal = N × latency / concurrency; ``cpu_ms_per_item`` is the client's CPU.
Then the transports alone (``--transport-n`` calls at zero latency, concurrency 32): client CPU per call for
aiohttp (what pmcomm uses), httpx2 and the openai SDK's ``post`` behind the same protocol.

Targets (issue 8): efficiency ≥ 0.95 at c=32 and ≥ 0.85 at c=128 (200 ms), ≥ 0.93 at 2 s with c=256;
≤ 1.5 ms client CPU per item; transport ≤ 0.3 ms per call. Prints JSON, then a short table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
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
    with path.open("w", encoding="utf-8") as handle:
        for s in _items(n):
            handle.write(json.dumps(s, ensure_ascii=False) + "\n")


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _result(items: int, ok: int, wall: float, cpu: float) -> dict:
    return {"items": items, "ok": ok, "wall_s": round(wall, 3), "cpu_ms_per_item": round(cpu * 1000 / max(1, items), 3),
            "peak_rss_mb": _peak_rss_mb()}


# --- children: each measurement in its own process, setup before the clock --------------------------------

def child_pmcomm(args: argparse.Namespace) -> dict:
    from pmcomm_llm.batch.runner import RunOptions, arun_file
    from pmcomm_llm.core.settings import Settings
    from pmcomm_llm.drafting.chain import Drafter
    from pmcomm_llm.evaluation.checks import preload

    settings = Settings.resolve(backend="openai", base_url=args.url, api_key="sk-bench", model="bench-model",
                                concurrency=args.concurrency, max_retries=2)
    preload()
    Drafter(settings)  # loads and validates the prompts, builds the request template
    options = RunOptions(output=Path(args.out), cache=False, summary=False)
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = asyncio.run(arun_file(args.input, settings, options))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return _result(summary.drafted + summary.failed, summary.drafted, wall, cpu)


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
    return _result(len(results), ok, wall, cpu)


def _bodies(n: int) -> list[bytes]:
    from pmcomm_llm import Drafter, parse_scenario

    drafter = Drafter(backend="openai", base_url="http://unused", api_key="sk-bench", model="bench-model")
    return [drafter.model.request.encode(drafter.prompt(parse_scenario(s))) for s in _items(n)]


def child_bare(args: argparse.Namespace) -> dict:
    import aiohttp

    bodies = _bodies(args.n)
    url = args.url.rstrip("/") + "/chat/completions"

    async def run() -> int:
        limit = asyncio.Semaphore(args.concurrency)
        headers = {"authorization": "Bearer sk-bench", "content-type": "application/json"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            async def one(body: bytes) -> bool:
                async with limit, session.post(url, data=body, headers=headers) as response:
                    return bool(json.loads(await response.read()).get("choices"))

            cpu0, t0 = time.process_time(), time.perf_counter()
            ok = sum(await asyncio.gather(*(one(b) for b in bodies)))
            run.timing = (time.perf_counter() - t0, time.process_time() - cpu0)  # type: ignore[attr-defined]
            return ok

    ok = asyncio.run(run())
    wall, cpu = run.timing  # type: ignore[attr-defined]
    return _result(len(bodies), ok, wall, cpu)


def child_transport(args: argparse.Namespace) -> dict:
    """One transport alone: ``post`` of pre-encoded bodies, no parsing, at zero server latency."""
    from pmcomm_llm.providers.transport import make_transport

    bodies = _bodies(64)

    async def run() -> tuple[float, float]:
        transport = make_transport(args.transport, api_key="sk-bench", base_url=args.url, timeout=60)
        limit = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with limit:
                await transport.post(bodies[i % len(bodies)])

        await asyncio.gather(*(one(i) for i in range(64)))  # connections opened before the clock
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.n)))
        timing = (time.perf_counter() - t0, time.process_time() - cpu0)
        await transport.aclose()
        return timing

    wall, cpu = asyncio.run(run())
    return _result(args.n, args.n, wall, cpu)


CHILDREN = {"pmcomm": child_pmcomm, "langchain_abatch": child_langchain, "bare_aiohttp": child_bare,
            "transport": child_transport}


def _child(kind: str, **kw: object) -> dict:
    cmd = [sys.executable, __file__, "--child", kind]
    for k, v in kw.items():
        if v not in (None, False):
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Server:
    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pmcomm_llm.testing.server", "--latency", str(latency),
             "--responder", "pmcomm_llm.testing.responders:offline_responder"], stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().split()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _summary(runs: list[dict], ideal: float) -> dict:
    eff = [round(ideal / r["wall_s"], 3) for r in runs]
    cpu = [r["cpu_ms_per_item"] for r in runs]
    return {"efficiency_min": min(eff), "efficiency_median": statistics.median(eff), "efficiency_max": max(eff),
            "cpu_ms_per_item_min": min(cpu), "cpu_ms_per_item_median": statistics.median(cpu),
            "ok": min(r["ok"] for r in runs), "items": runs[0]["items"],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "runs": len(runs)}


def measure(n: int, latency: float, concurrency: int, repeat: int, tmp: Path) -> dict:
    server = Server(latency)
    try:
        src = tmp / f"in-{n}.jsonl"
        if not src.exists():
            _write_jsonl(src, n)
        names = ["pmcomm", "langchain_abatch", "bare_aiohttp"]
        runs: dict[str, list[dict]] = {name: [] for name in names}
        for round_no in range(repeat):
            order = names[round_no % len(names):] + names[: round_no % len(names)]  # rotated each round
            for name in order:
                out = tmp / f"out-{name}-{concurrency}-{round_no}.jsonl"
                runs[name].append(_child(name, n=n, concurrency=concurrency, url=server.url, input=src, out=out))
        ideal = n * latency / concurrency
        return {"n": n, "latency_s": latency, "concurrency": concurrency, "ideal_s": round(ideal, 3),
                **{name: _summary(r, ideal) for name, r in runs.items()}}
    finally:
        server.stop()


def measure_transports(n: int, repeat: int) -> dict:
    server = Server(0.0)
    try:
        out: dict[str, dict] = {}
        kinds = ["aiohttp", "httpx", "sdk"]
        for round_no in range(repeat):
            for kind in kinds[round_no % 3:] + kinds[: round_no % 3]:
                res = _child("transport", transport=kind, n=n, url=server.url)
                out.setdefault(kind, {"cpu_ms_per_call": []})["cpu_ms_per_call"].append(res["cpu_ms_per_item"])
        return {k: {"cpu_ms_per_call_min": min(v["cpu_ms_per_call"]),
                    "cpu_ms_per_call_median": statistics.median(v["cpu_ms_per_call"])} for k, v in out.items()}
    finally:
        server.stop()


def _table(report: dict) -> str:
    lines = [f"{'setting':<22} {'runner':<17} {'eff min':>8} {'eff med':>8} {'cpu ms/item':>12} {'ok':>6}"]
    for row in report["throughput"]:
        setting = f"{row['latency_s']:g}s c={row['concurrency']} n={row['n']}"
        for name in ("pmcomm", "langchain_abatch", "bare_aiohttp"):
            r = row[name]
            lines.append(f"{setting:<22} {name:<17} {r['efficiency_min']:>8.3f} {r['efficiency_median']:>8.3f} "
                         f"{r['cpu_ms_per_item_median']:>12.3f} {r['ok']:>6}")
    lines.append("transport alone (median client CPU per call, ms): " + ", ".join(
        f"{k} {v['cpu_ms_per_call_median']:.3f}" for k, v in report["transports"].items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1600)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--long-latency", type=float, default=2.0)
    parser.add_argument("--long-concurrency", type=int, default=256)
    parser.add_argument("--long-n", type=int, default=1600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--transport-n", type=int, default=2000)
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--input")
    parser.add_argument("--out")
    parser.add_argument("--transport")
    args = parser.parse_args()
    if args.child:
        if args.child != "transport":
            args.concurrency = args.concurrency[0]
        print(json.dumps(CHILDREN[args.child](args)))
        return
    report: dict = {"cores": os.cpu_count(), "repeat": args.repeat, "throughput": []}
    with tempfile.TemporaryDirectory() as tmp:
        for c in args.concurrency:
            report["throughput"].append(measure(args.n, args.latency, c, args.repeat, Path(tmp)))
        if args.long_n:
            report["throughput"].append(measure(args.long_n, args.long_latency, args.long_concurrency, args.repeat,
                                                Path(tmp)))
    report["transports"] = measure_transports(args.transport_n, args.repeat)
    print(json.dumps(report, indent=1))
    print(_table(report))


if __name__ == "__main__":
    main()
