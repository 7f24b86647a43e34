"""Evaluation speed and memory: the checks on one core, and ``pmcomm eval`` end to end at 1k, 10k and 100k drafts.

    .venv/bin/python benchmarks/eval_speed.py [--drafts 2000] [--sizes 1000,10000,100000] [--no-checks]
                                              [--memo-cap 256]

Three figures, printed as JSON:

* ``checks``: drafts per second of the deterministic checks alone, in process (the independent corpus's dev
  drafts, natural prose by six writers, cycled; every per-text memo cleared before each draft so none is scored
  from a cache). "shared scenarios" reuses the parsed scenarios, as a real eval of many drafts per scenario does;
  "fresh scenarios" re-parses the scenario for every draft (the worst case). Target: >= 1,000 drafts/s.
* ``eval_cli``: ``pmcomm eval -o report.json --html --md`` run as a child process on N drafts: wall seconds,
  drafts/s, the child's CPU seconds and peak RSS and the size of what it wrote. The drafts are the same corpus drafts cycled
  with new ids, each body ending in a whitespace-only line that encodes its index, so every text is new to
  the memos (a repeated text would be scored from the cache and flatter the rate); the verdicts are those of
  the corpus drafts (about three in four fail, so the failing-first HTML and the Markdown have work to do).
  ``rss_ratio`` is the largest N's peak over the smallest N's: flat memory shows as a ratio near 1. ``compare``
  is ``pmcomm eval compare`` of that report with itself (both files streamed).
* ``eval_cli_memos_capped_at_N`` (with ``--memo-cap N``): the same runs with every ``lru_cache`` larger than N
  entries created with N instead: a what-if that separates what the grounding's per-text memos hold (8,192
  entries each, filled by about 8,000 distinct drafts) from what the evaluation itself holds.
* ``serialisation``: microseconds per draft result for each way of writing one JSON line (the stdlib on the
  model's dict, orjson on the dict, pydantic's own ``model_dump_json``), so the writer's choice is measured.

The child runs whatever ``pmcomm_llm`` the interpreter imports, so the same command measures another checkout
(``PYTHONPATH=/path/to/checkout``) for a before/after figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "evals/corpus"


def checks_throughput(n: int) -> dict[str, Any]:
    import pmcomm_llm.evaluation.checks as _checks
    from pmcomm_llm import evaluate, parse_scenario
    from pmcomm_llm.evaluation.calibration import golden_set
    from pmcomm_llm.evaluation.rubric import load_rubric
    from pmcomm_llm.grounding import text as _text
    from pmcomm_llm.grounding.quantities import _extract

    records, scenarios = golden_set("corpus-dev")
    raw = {s["id"]: s for s in json.loads((CORPUS / "scenarios.json").read_text(encoding="utf-8"))}
    rubric = load_rubric()
    work = [records[i % len(records)] for i in range(n)]
    for r in work[:50]:  # warm up imports and lexicons
        evaluate(r, scenarios[r.scenario_id], rubric=rubric)

    def run(fresh: bool) -> float:
        start = time.process_time()
        for r in work:
            _extract.cache_clear()
            for memo in (_text.features, _text._charset, _text.sentences_of, _text.clauses_of, _checks._tone_hits):
                memo.cache_clear()
            scenario = parse_scenario(raw[r.scenario_id]) if fresh else scenarios[r.scenario_id]
            scenario._derived.pop("claims_memo", None)  # no draft is scored from the claim memo either
            evaluate(r, scenario, rubric=rubric)
        return time.process_time() - start

    shared = run(False)
    fresh = run(True)
    return {"drafts": n, "checks_per_draft": len(rubric.checks_for(next(iter(scenarios.values())).kind)),
            "shared_scenarios": {"cpu_s": round(shared, 3), "drafts_per_s": round(n / shared)},
            "fresh_scenarios": {"cpu_s": round(fresh, 3), "drafts_per_s": round(n / fresh)},
            "target_drafts_per_s": 1000}


def write_drafts(n: int, path: Path) -> None:
    """N distinct drafts from the corpus dev set: new ids, and a whitespace-only last line unique to each."""
    base = [json.loads(line) for line in (CORPUS / "dev.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            r = base[i % len(base)]
            tail = format(i + (1 << 17), "b").replace("0", " ").replace("1", "\t")
            handle.write(json.dumps({"id": f"{r['id']}#{i:06d}", "scenario_id": r["scenario_id"],
                                     "subject": r.get("subject"), "body": f"{r['body']}\n{tail}"},
                                    ensure_ascii=False) + "\n")


# A what-if, not the shipped configuration: every lru_cache larger than the cap is created with the cap instead.
# The grounding's per-text memos (8,192 entries each, about 30 KB per entry for a whole draft) are most of what
# an evaluation holds once they are full; capping them shows what the rest of the eval holds on its own.
_CAPPED = ("import functools; _lru = functools.lru_cache\n"
           "def _capped(maxsize=128, typed=False):\n"
           "    if callable(maxsize): return _lru(maxsize)\n"
           "    return _lru(maxsize=maxsize if maxsize is None or maxsize <= {cap} else {cap}, typed=typed)\n"
           "functools.lru_cache = _capped\n")


def eval_cli(n: int, workdir: Path, memo_cap: int | None = None) -> dict[str, Any]:
    drafts = workdir / f"drafts-{n}.jsonl"
    write_drafts(n, drafts)
    out = {name: workdir / f"report-{n}.{name}" for name in ("json", "html", "md")}
    code = "import sys; from pmcomm_llm.cli.commands import main; sys.argv[0] = 'pmcomm'; main()"
    if memo_cap is not None:
        code = _CAPPED.format(cap=memo_cap) + code
    args = [sys.executable, "-c", code, "eval", "--scenarios", str(CORPUS / "scenarios.json"), "--drafts",
            str(drafts), "-o", str(out["json"]), "--html", str(out["html"]), "--md", str(out["md"])]
    seconds, cpu, rss = _run(args, f"pmcomm eval on {n} drafts", (0, 1), workdir)  # 1: some drafts fail
    sizes = {name: round(p.stat().st_size / 2**20, 1) for name, p in out.items() if p.exists()}
    # the report compared with itself: both files streamed, one small verdict per draft of a kept
    compare_s, _, compare_rss = _run([sys.executable, "-c", code, "eval", "compare", str(out["json"]),
                                   str(out["json"]), "--json"], f"pmcomm eval compare on {n} drafts", (0,), workdir)
    siblings = sorted(p.name for p in workdir.iterdir() if p.name.startswith(f"report-{n}.") and p not in out.values())
    for p in [drafts, *out.values(), *(workdir / s for s in siblings)]:
        p.unlink(missing_ok=True)
    return {"drafts": n, **({"memo_cap": memo_cap} if memo_cap is not None else {}),
            "seconds": round(seconds, 2), "drafts_per_s": round(n / seconds), "cpu_s": round(cpu, 2),
            "peak_rss_mb": rss, "written_mb": sizes, "other_files": siblings,
            "compare": {"seconds": round(compare_s, 2), "peak_rss_mb": compare_rss}}


def _run(args: list[str], what: str, ok: tuple[int, ...], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: steadier than wall time on a shared machine) and peak RSS (MB)
    of one child process. It runs in ``cwd`` (the temp dir) because ``-c`` puts
    the working directory first on ``sys.path``: from a checkout it would import that checkout, whatever
    ``PYTHONPATH`` says."""
    start = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode("utf-8", "replace") if child.stderr else ""
    if code not in ok:
        raise SystemExit(f"{what} exited {code}:\n{stderr[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB


def serialisation(n: int = 1000) -> dict[str, Any]:
    """µs per draft result for each way of turning one result into a JSON line."""
    from pmcomm_llm import evaluate
    from pmcomm_llm.evaluation.calibration import golden_set

    records, scenarios = golden_set("corpus-dev")
    results = [evaluate(records[i % len(records)], scenarios[records[i % len(records)].scenario_id])
               for i in range(min(n, len(records)))]
    results = [results[i % len(results)] for i in range(n)]
    ways: dict[str, Any] = {
        "json.dumps(model_dump())": lambda r: json.dumps(r.model_dump(mode="json"), ensure_ascii=False).encode(),
        "model_dump_json()": lambda r: r.model_dump_json().encode(),
    }
    try:
        import orjson

        ways["orjson.dumps(model_dump())"] = lambda r: orjson.dumps(r.model_dump(mode="json"))
    except ImportError:  # pragma: no cover - orjson is optional for this figure
        pass
    out: dict[str, Any] = {"results": n}
    for name, fn in ways.items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for r in results:
                fn(r)
            best = min(best, time.perf_counter() - start)
        out[name] = {"us_per_result": round(best / n * 1e6, 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drafts", type=int, default=2000, help="drafts for the in-process checks figure")
    parser.add_argument("--sizes", default="1000,10000,100000", help="draft counts for the end-to-end figure")
    parser.add_argument("--no-checks", action="store_true", help="skip the in-process checks figure")
    parser.add_argument("--no-serialisation", action="store_true", help="skip the JSON writer figure")
    parser.add_argument("--memo-cap", type=int, default=None,
                        help="also run each size with every lru_cache capped at this many entries (a what-if)")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    # The end-to-end runs come first, while this process has imported nothing of pmcomm_llm: Linux carries the
    # parent's RSS high-water mark into a forked child's ru_maxrss, so a parent that had loaded the library
    # (about 90 MB) would put a floor under every child's figure.
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    variants: list[tuple[str, int | None]] = [("eval_cli", None)]
    if args.memo_cap is not None:
        variants.append((f"eval_cli_memos_capped_at_{args.memo_cap}", args.memo_cap))
    with tempfile.TemporaryDirectory(prefix="pmcomm-eval-bench-") as tmp:
        for name, cap in variants:
            runs = []
            for n in sizes:
                runs.append(eval_cli(n, Path(tmp), cap))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)  # progress: the 100k run takes minutes
            if runs:
                report[name] = {"runs": runs,
                                "rss_ratio": round(runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"], 2),
                                "rss_ratio_of": f"{runs[-1]['drafts']} vs {runs[0]['drafts']} drafts"}
    if not args.no_checks:
        report = {"checks": checks_throughput(args.drafts), **report}
    if not args.no_serialisation:
        report = {"serialisation": serialisation(), **report}
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
