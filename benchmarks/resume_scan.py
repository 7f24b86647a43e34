"""Resume benchmark: how long a re-run over a finished output takes before it drafts anything.

    .venv/bin/python benchmarks/resume_scan.py [--items 100000] [--before DIR] [--repeat 3]

``--before DIR`` times another checkout with this venv, e.g. the commit before input hashes:
``mkdir /tmp/before && git archive 338cb6e | tar -x -C /tmp/before``.

It builds an input of ``--items`` scenarios (the examples under new ids) and a finished output for it
(synthesised: the examples drafted offline once, one record per input line under its id), in two forms:

* **old-format**: records as the previous version wrote them (``meta.scenario_hash`` only);
* **new-format**: records as this version writes them (``meta.input_hash`` too).

Each resume runs in a fresh child process (``pmcomm draft``'s library call, offline, no summary) and is timed
around the call only (imports excluded). It prints seconds per 100,000 items and µs per item for

1. ``--before`` (another checkout, e.g. the main branch) on the old-format output, when given;
2. this checkout on the old-format output (the fallback: validate and hash every scenario);
3. this checkout on the new-format output (ids and input hashes only);

and checks every run skipped all items and drafted none; then it edits one item and checks that exactly that
one is drafted again. Target: (3) at most 2 s per 100,000 items on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path
from pmcomm_llm.batch import runner
from pmcomm_llm.core.settings import Settings
source, output = sys.argv[1], Path(sys.argv[2])
extra = {"quiet": True} if "quiet" in runner.RunOptions.__dataclass_fields__ else {}
options = runner.RunOptions(output=output, summary=False, **extra)
settings = Settings(backend="offline", concurrency=8)
started = time.perf_counter()
summary = asyncio.run(runner.arun_file(source, settings, options))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "skipped": summary.skipped, "drafted": summary.drafted,
                  "failed": summary.failed}))
"""


def _records(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each example drafted offline once, as the output record this checkout writes (input hash added later)."""
    sys.path.insert(0, str(ROOT))
    from pmcomm_llm.batch.records import output_record
    from pmcomm_llm.core.scenario import parse_scenario
    from pmcomm_llm.drafting.chain import Drafter

    drafter = Drafter(backend="offline")
    return [output_record(drafter.draft_offline(parse_scenario(e)), e["id"]) for e in examples]


def build(work: Path, n: int) -> tuple[Path, Path, Path]:
    """The input (JSONL), an old-format finished output and a new-format one."""
    from pmcomm_llm.batch.records import encode_record
    from pmcomm_llm.core.inputs import digest

    examples = json.loads((ROOT / "examples" / "scenarios.json").read_text(encoding="utf-8"))
    drafted = _records(examples)
    source, old, new = work / "in.jsonl", work / "old.jsonl", work / "new.jsonl"
    with source.open("wb") as src, old.open("wb") as o, new.open("wb") as w:
        for i in range(n):
            k = i % len(examples)
            item_id = f"item-{i:06d}"
            line = json.dumps(dict(examples[k], id=item_id), ensure_ascii=False).encode("utf-8")
            src.write(line + b"\n")
            record = dict(drafted[k], id=item_id)
            meta = {key: value for key, value in record["meta"].items() if key != "input_hash"}
            o.write(json.dumps(dict(record, meta=meta), ensure_ascii=False).encode("utf-8") + b"\n")  # as before
            meta["input_hash"] = digest(line)
            w.write(encode_record(dict(record, meta=meta)))  # as this version writes it
    return source, old, new


def resume(checkout: Path, source: Path, output: Path, scratch: Path) -> dict[str, Any]:
    """One timed resume in a child process running ``checkout``'s code, on a copy of ``output``."""
    copy = scratch / f"run-{output.name}"
    for side in scratch.glob("run-*"):
        side.unlink()
    shutil.copyfile(output, copy)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMCOMM_", "OPENAI_"))}
    env["PYTHONPATH"] = str(checkout)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(source), str(copy)], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"the resume under {checkout} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best(checkout: Path, source: Path, output: Path, scratch: Path, repeat: int, n: int) -> float:
    runs = [resume(checkout, source, output, scratch) for _ in range(repeat)]
    for run in runs:
        if run["skipped"] != n or run["drafted"] or run["failed"]:
            raise SystemExit(f"FAIL: a resume over a finished output did work: {run}")
    return min(run["seconds"] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--before", type=Path, default=None, help="another checkout to time (see above)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest counts")
    args = parser.parse_args()
    n = args.items
    work = Path(tempfile.mkdtemp(prefix="pmcomm-resume-"))
    try:
        source, old, new = build(work, n)
        rows: list[tuple[str, float]] = []
        if args.before is not None:
            rows.append((f"before ({args.before}), old-format output",
                         best(args.before.resolve(), source, old, work, args.repeat, n)))
        rows.append(("this checkout, old-format output (fallback)", best(ROOT, source, old, work, args.repeat, n)))
        rows.append(("this checkout, new-format output", best(ROOT, source, new, work, args.repeat, n)))
        print(f"resume over a finished output of {n:,} items (input {source.stat().st_size / 1e6:.0f} MB, "
              f"output {new.stat().st_size / 1e6:.0f} MB); fastest of {args.repeat}")
        for label, seconds in rows:
            print(f"  {label:55s} {seconds * 100_000 / n:6.2f} s per 100k   {seconds * 1e6 / n:6.1f} µs/item")
        if len(rows) == 3:
            print(f"  speed-up, before → new-format: {rows[0][1] / rows[2][1]:.1f}x")
        lines = source.read_bytes().splitlines(keepends=True)
        edited = json.loads(lines[n // 2])
        edited["situation"] += " The client asked again."
        lines[n // 2] = (json.dumps(edited, ensure_ascii=False) + "\n").encode("utf-8")
        source.write_bytes(b"".join(lines))
        run = resume(ROOT, source, new, work)
        ok = run["drafted"] == 1 and run["skipped"] == n - 1
        print(f"  one item edited: drafted {run['drafted']}, skipped {run['skipped']} ({'ok' if ok else 'FAIL'})")
        if not ok:
            raise SystemExit("FAIL: an edited item was not drafted again, or an unchanged one was")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
