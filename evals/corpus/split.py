"""Split the independent corpus into dev and holdout, before anyone looks at a draft.

The unit is a (writer, scenario) group, so a flawed draft and the good draft it was derived from never sit on
opposite sides. A group goes to holdout when the first 8 hex digits of sha256("writer:scenario_id") are odd.
Run once per round, from the repository root: python evals/corpus/split.py (the first six writers, raw/) and
python evals/corpus/split.py 2 (the second round, raw2/) — it prints counts only, never text.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def side(writer: str, scenario_id: str) -> str:
    digest = hashlib.sha256(f"{writer}:{scenario_id}".encode()).hexdigest()
    return "holdout" if int(digest[:8], 16) % 2 else "dev"


def main(round_: str = "") -> None:
    """``round_`` "" splits raw/ into dev/holdout (with the mentions); "2" splits raw2/ into dev2/holdout2."""
    out: dict[str, list] = {"dev" + round_: [], "holdout" + round_: []}
    for path in sorted((HERE / f"raw{round_}").glob("W*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                out[side(path.stem, record["scenario_id"]) + round_].append(record)
    for name, records in out.items():
        (HERE / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                            encoding="utf-8")
        labels = Counter(label for r in records for label in r["labels"] or ["(good)"])
        print(name, len(records), dict(sorted(labels.items())))
    if round_:
        return
    mentions = [json.loads(x) for x in (HERE / "mentions/raw.jsonl").read_text(encoding="utf-8").splitlines() if x]
    parts = {"dev": [], "holdout": []}
    for m in mentions:
        parts["holdout" if int(hashlib.sha256(m["id"].encode()).hexdigest()[:8], 16) % 2 else "dev"].append(m)
    for name, records in parts.items():
        (HERE / f"mentions/{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        print("mentions", name, len(records))


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "")
