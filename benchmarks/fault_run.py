"""Fault benchmark: many items through mixed faults, a full disk, a kill and a resume — and nothing lost.

    python benchmarks/fault_run.py [--items 1200] [--concurrency 16]

A local OpenAI-compatible server (in this process) answers ``pmcomm draft`` (a child process, as a user runs
it) with a seeded mix of faults: 429 with ``retry-after``, 500 and 503, hangs past the client timeout,
malformed JSON, and 200s that are not chat completions at all (``[]``, ``"ok"``, ``null``, ``{"choices":["x"]}``,
a string ``usage``). The run goes through four phases:

1. the output directory is a small tmpfs that fills up mid-run: the run must stop with exit 3;
2. the disk is grown and the same command resumes; it is killed with SIGKILL part-way;
3. the same command resumes again and must finish;
4. the files are counted against the input.

It prints: items in, drafted, errored, lost (must be 0), duplicated (must be 0), and answered twice (items the
server answered in more than one of the runs: paid again after a resume, e.g. answered while the run was being
killed; re-asks within one run are not counted). Without
permission to mount a tmpfs (not root, or in a container without CAP_SYS_ADMIN) the disk-full phase is skipped
and the line says so.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pmcomm_llm.testing import FakeOpenAIServer, Raw  # noqa: E402
from pmcomm_llm.testing.responders import offline_responder, scenario_from_request  # noqa: E402
from pmcomm_llm.testing.server import Hang, Malformed, Status  # noqa: E402

ODD_BODIES = ['[]', '"ok"', 'null', '{"choices":["x"]}', '{"choices":[]}', '{"id":"x","object":"chat.completion",'
              '"choices":[{"index":0,"message":{"role":"assistant","content":"{}"},"finish_reason":"stop"}],'
              '"usage":"lots"}']


class FaultyServer(FakeOpenAIServer):
    """Seeded faults on every request, odd-shaped 200s included; counts successful answers per scenario."""

    def __init__(self, rates: dict[str, float], seed: int, **kwargs: Any) -> None:
        self.answered: dict[str, set[int]] = collections.defaultdict(set)
        self.phase = 0
        self._lock = threading.Lock()
        super().__init__(responder=self._answer, **kwargs)
        self.rates = rates
        self.fault_rng = random.Random(seed)

    def _answer(self, request: dict) -> dict:
        content = offline_responder(request)
        with self._lock:
            self.answered[scenario_from_request(request)["id"]].add(self.phase)
        return content

    def _next_action(self) -> Any:
        roll, cumulative = self.fault_rng.random(), 0.0
        for key, rate in self.rates.items():
            cumulative += rate
            if roll < cumulative:
                if key == "429":
                    return Status(429, {"retry-after": "0.05"})
                if key in ("500", "503"):
                    return Status(int(key))
                if key == "hang":
                    return Hang(self.hang_seconds)
                if key == "malformed":
                    return Malformed()
                return Raw(self.fault_rng.choice(ODD_BODIES))
        return super()._next_action()


def _mount(path: Path, size: str) -> bool:
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(x)["id"] for x in path.read_bytes().splitlines() if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    examples = json.loads((ROOT / "examples/scenarios.json").read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp(prefix="pmcomm-faults-"))
    src = work / "in.jsonl"
    items = []
    for i in range(args.items):
        s = json.loads(json.dumps(examples[i % len(examples)]))
        s["id"] = f"item-{i:05d}"
        s["situation"] += f" (case {i})"  # distinct content: no item is a cache hit of another
        items.append(s)
    src.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in items), encoding="utf-8")
    disk = work / "disk"
    disk.mkdir()
    mounted = _mount(disk, "400k")
    out, errors = disk / "out.jsonl", disk / "out.errors.jsonl"
    rates = {"429": 0.06, "500": 0.04, "503": 0.03, "hang": 0.01, "malformed": 0.06, "odd": 0.05}
    phases: list[str] = []
    with FaultyServer(rates, args.seed, latency=0.01, hang_seconds=3.0) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PMCOMM_", "OPENAI_"))}
        env.update(OPENAI_BASE_URL=server.base_url, PMCOMM_CACHE_DIR=str(work / "cache"), PMCOMM_TIMEOUT="1",
                   PMCOMM_BACKOFF_MAX="0.2", PMCOMM_MAX_RETRIES="6", PMCOMM_MAX_REASKS="2")
        cmd = [sys.executable, "-m", "pmcomm_llm.cli.commands", "draft", str(src), "-o", str(out), "--concurrency",
               str(args.concurrency), "--quiet"]
        started = time.monotonic()
        try:
            if mounted:
                run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
                phases.append(f"disk full: exit {run.returncode} after {len(_ids(out))} drafts "
                              f"({run.stderr.strip().splitlines()[-1][:100] if run.stderr.strip() else ''})")
                subprocess.run(["mount", "-o", "remount,size=512m", str(disk)], check=True)
                server.phase += 1
            else:
                phases.append("disk full: skipped (cannot mount a tmpfs here)")
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            target = len(_ids(out)) + args.items // 4
            deadline = time.monotonic() + 600
            while proc.poll() is None and time.monotonic() < deadline:
                if out.exists() and out.read_bytes().count(b"\n") >= target:
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            server.phase += 1
            phases.append(f"killed (SIGKILL) at {len(_ids(out))} drafts")
            final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
            phases.append(f"resumed: exit {final.returncode}")
        finally:
            wall = time.monotonic() - started
            drafted, errored = _ids(out), _ids(errors)
            landed = drafted + errored
            counts = collections.Counter(landed)
            lost = len({s["id"] for s in items} - set(landed))
            duplicated = sum(n - 1 for n in counts.values() if n > 1)
            twice = sum(1 for phases_seen in server.answered.values() if len(phases_seen) > 1)
            chat = sum(1 for r in server.requests if "/chat/completions" in r.path)
            if mounted:
                subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    for line in phases:
        print(f"phase: {line}")
    print(f"faults per request: {', '.join(f'{k} {v:.0%}' for k, v in rates.items())}; {chat} chat requests; "
          f"wall {wall:.1f} s")
    print(f"items in {len(items)}, drafted {len(drafted)}, errored {len(errored)}, lost {lost}, "
          f"duplicated {duplicated}, answered twice {twice}")
    if lost or duplicated:
        raise SystemExit("FAIL: items lost or duplicated")


if __name__ == "__main__":
    main()
