"""Start-up time of the commands that need no model, as ratios to ``python -c "import pydantic"``.

    .venv/bin/python benchmarks/startup.py [--runs 7]

Each command runs as a fresh process; the median of the runs is printed, with its ratio. Targets: ``pmcomm --help``
within 3x and ``pmcomm validate`` within 4x of importing pydantic (LangChain and the SDK load only to draft).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PMCOMM = [sys.executable, "-m", "pmcomm_llm.cli.commands"]


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base = median_seconds([sys.executable, "-c", "import pydantic; from pydantic import BaseModel"], args.runs)
    out = {"import_pydantic_s": round(base, 3)}
    for name, cmd in (("help", PMCOMM + ["--help"]),
                      ("validate", PMCOMM + ["validate", "examples/scenarios.json"])):
        t = median_seconds(cmd, args.runs)
        out[f"{name}_s"] = round(t, 3)
        out[f"{name}_ratio"] = round(t / base, 2)
    out["targets"] = {"help_ratio": 3, "validate_ratio": 4}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
