"""Batch runs that lose nothing: faults, kills, interrupts, resume, cache, cost, bad input, limits."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ids as _ids
from helpers import many as _many
from helpers import write_jsonl as _write_jsonl

from pmcomm_llm.cli.commands import cli as main
from pmcomm_llm.testing import FakeOpenAIServer
from pmcomm_llm.testing.responders import offline_responder

ROOT = Path(__file__).resolve().parent.parent








def _chat_count(server):
    return sum(1 for r in server.requests if r.path.endswith("/chat/completions"))


@pytest.mark.slow
def test_every_item_ends_in_output_or_errors_exactly_once_under_faults(tmp_path, examples, monkeypatch):
    items = _many(examples, 60)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    faults = {"429": 0.08, "500": 0.08, "503": 0.04, "hang": 0.03, "malformed": 0.15}
    with FakeOpenAIServer(responder=offline_responder, fault_rates=faults, seed=7, hang_seconds=3) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("PMCOMM_BACKOFF_MAX", "0.05")
        result = CliRunner().invoke(main, ["draft", str(src), "-o", str(out), "--concurrency", "8", "--no-cache",
                                           "--quiet"], env={"PMCOMM_TIMEOUT": "0.5", "PMCOMM_MAX_REASKS": "1",
                                                            "PMCOMM_MAX_RETRIES": "3"})
    drafted, failed = _ids(out), _ids(tmp_path / "out.errors.jsonl")
    assert sorted(drafted + failed) == [s["id"] for s in items], "each item exactly once"
    assert len(drafted) > 40
    errors_file = tmp_path / "out.errors.jsonl"  # written only when an item fails
    assert errors_file.exists() == bool(failed)
    for err in (json.loads(x) for x in (errors_file.read_text().splitlines() if failed else []) if x):
        assert err["stage"] == "drafting" and err["error_type"] and err["message"]
    assert result.exit_code == (1 if failed else 0)


def _start_server_process(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "pmcomm_llm.testing.server", "--latency", str(latency),
                             "--responder", "pmcomm_llm.testing.responders:offline_responder"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("READY"), line
    return proc, line.split()[1]


def _draft_process(src, out, url, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMCOMM_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=url, PMCOMM_CACHE_DIR=str(Path(out).parent / "cache"))
    return subprocess.Popen([sys.executable, "-m", "pmcomm_llm.cli.commands", "draft", str(src), "-o", str(out),
                             "--concurrency", "4", "--quiet", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_lines(path, n, proc, limit=60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_gives_every_item_exactly_once(tmp_path, examples):
    items = _many(examples, 120)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    server, url = _start_server_process(0.03)
    try:
        for kill_at in (15, 55):
            proc = _draft_process(src, out, url, "--no-cache")
            _wait_lines(out, kill_at, proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        proc = _draft_process(src, out, url, "--no-cache")
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
    ids = _ids(out)
    assert sorted(ids) == [s["id"] for s in items] and len(ids) == len(set(ids))


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path, examples):
    items = _many(examples, 80)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    server, url = _start_server_process(0.05)
    try:
        proc = _draft_process(src, out, url, "--no-cache")
        _wait_lines(out, 10, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130 and "Traceback" not in stderr and "resume" in stderr
        partial = _ids(out)
        assert 0 < len(partial) < len(items)
        proc = _draft_process(src, out, url, "--no-cache")
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert sorted(_ids(out)) == [s["id"] for s in items]


def test_warm_cache_rerun_into_new_output_makes_no_model_calls(tmp_path, examples, server, monkeypatch):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(examples, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    runner = CliRunner()
    assert runner.invoke(main, ["draft", str(src), "-o", str(tmp_path / "a.jsonl"), "--quiet"]).exit_code == 0
    calls = _chat_count(server)
    assert calls == len(examples)
    assert runner.invoke(main, ["draft", str(src), "-o", str(tmp_path / "b.jsonl"), "--quiet"]).exit_code == 0
    assert _chat_count(server) == calls, "zero model calls on a warm cache"
    a = {json.loads(x)["id"]: json.loads(x)["draft"] for x in (tmp_path / "a.jsonl").read_text().splitlines()}
    b = {json.loads(x)["id"]: json.loads(x)["draft"] for x in (tmp_path / "b.jsonl").read_text().splitlines()}
    assert a == b
    summary = json.loads((tmp_path / "b.summary.json").read_text())
    assert summary["cache"]["hits"] == len(examples)
    assert runner.invoke(main, ["draft", str(src), "-o", str(tmp_path / "c.jsonl"), "--quiet",
                                "--no-cache"]).exit_code == 0
    assert _chat_count(server) == 2 * calls


def test_run_summary_counts_tokens_and_prices_only_remote_endpoints(tmp_path, examples, server, monkeypatch):
    from pmcomm_llm.testing import Malformed

    server.enqueue(Malformed())  # one re-ask: its tokens must be counted too
    src, out = tmp_path / "in.json", tmp_path / "o.jsonl"
    src.write_text(json.dumps(examples[:4], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    result = CliRunner().invoke(main, ["draft", str(src), "-o", str(out), "--model", "gpt-4.1-mini",
                                       "--no-cache", "--concurrency", "1"])
    assert result.exit_code == 0
    summary = json.loads((tmp_path / "o.summary.json").read_text())
    metas = [json.loads(x)["meta"]["usage"] for x in out.read_text().splitlines()]
    assert summary["usage"]["calls"] == 5 == sum(m["calls"] for m in metas)
    assert summary["usage"]["input_tokens"] == sum(m["input_tokens"] for m in metas) > 0
    # a server on this machine is not priced like OpenAI, whatever the model is called
    assert summary["estimated_cost_usd"] is None and "estimated cost n/a (a local endpoint)" in result.output
    from pmcomm_llm.batch.cost import estimate_cost
    from pmcomm_llm.core.draft import Usage

    usage = Usage(**{k: summary["usage"][k] for k in ("input_tokens", "output_tokens")})
    expected = (usage.input_tokens * 0.40 + usage.output_tokens * 1.60) / 1e6
    assert estimate_cost(usage, "gpt-4.1-mini") == pytest.approx(expected, abs=1e-6)  # rounded to micro-dollars


@pytest.mark.slow
def test_bad_input_files_each_get_a_clear_error_and_valid_items_still_draft(tmp_path, examples):
    good = examples[0]
    unknown_kind = dict(examples[1], id="k1", kind="postpone")
    missing = dict(examples[2], id="m1")
    del missing["project"]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join([json.dumps(good, ensure_ascii=False).encode(), b'{"id": "broken", ',
                                json.dumps(unknown_kind).encode(), json.dumps(missing).encode(),
                                b'{"id": "bytes", "project": "\xff\xfe"}', b""]))
    out = tmp_path / "o.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pmcomm_llm.cli.commands", "draft", str(src), "-o", str(out)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PMCOMM_CACHE_DIR": str(tmp_path / "c")})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert _ids(out) == [good["id"]]
    errors = {e["line"]: e for e in map(json.loads, (tmp_path / "o.errors.jsonl").read_text().splitlines())}
    assert "not valid JSON" in errors[2]["message"]
    assert errors[3]["field"] == "kind" and errors[3]["id"] == "k1"
    assert errors[4]["field"] == "project" and "required" in errors[4]["message"]
    assert "not UTF-8" in errors[5]["message"]
    for empty in (b"", b"   \n"):
        (tmp_path / "e.jsonl").write_bytes(empty)
        proc = subprocess.run([sys.executable, "-m", "pmcomm_llm.cli.commands", "draft", str(tmp_path / "e.jsonl"), "-o",
                               str(tmp_path / "e.out")], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "empty" in proc.stderr or "no scenarios" in proc.stderr


def test_json_array_is_streamed_item_by_item(tmp_path, examples):
    from pmcomm_llm.core.inputs import read_items

    src = tmp_path / "big.json"
    src.write_text(json.dumps(_many(examples, 500), ensure_ascii=False, indent=2), encoding="utf-8")
    stream = read_items(src)
    first = next(stream)
    assert first.data["id"] == "item-0000" and first.where == "item 1"
    assert sum(1 for _ in stream) == 499


def test_rate_limiter_waits_instead_of_failing():
    from pmcomm_llm.providers import ratelimit

    clock = [1000.0]
    waits = []

    async def fake_sleep(seconds):
        waits.append(seconds)
        clock[0] += seconds

    async def run():
        limiter = ratelimit.RateLimiter(rpm=2, tpm=1000, clock=lambda: clock[0], sleep=fake_sleep)
        for _ in range(3):
            await limiter.acquire(100)
            limiter.settle(100, 150)
        await limiter.acquire(limiter.estimate(0))

    asyncio.run(run())
    assert waits and sum(waits) >= 29.9  # the third request waits for the per-minute bucket to refill


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_progress_line_shows_rate_and_eta_from_the_clock_it_is_given():
    from pmcomm_llm.core.progress import Progress

    clock = _Clock()
    progress = Progress(10, clock=clock)
    progress.update(done=3)
    progress.update(failed=1)
    clock.now += 2.0
    assert progress.line() == "pmcomm: 4/10 · done 3 · failed 1 · 2.0/s · ETA 3s"


def test_the_progress_line_counts_against_a_known_total_only():
    from pmcomm_llm.core.progress import Progress

    clock = _Clock()
    unknown = Progress(None, clock=clock)
    unknown.update(done=1)
    clock.now += 1.0
    assert unknown.line() == "pmcomm: done 1 · failed 0 · 1.0/s"
    known = Progress(10, clock=clock)
    known.update(skipped=6)
    known.update(done=1)
    clock.now += 1.0
    assert known.line() == "pmcomm: 1/4 · done 1 · failed 0 · skipped 6 · 1.0/s · ETA 3s"


# --- resume: ids and input hashes first, validation only for what must be drafted ---------------------------

def _offline_run(src, out, **kw):
    from pmcomm_llm import Settings
    from pmcomm_llm.batch.runner import RunOptions, run_file

    return run_file(str(src), Settings(backend="offline", concurrency=2), RunOptions(output=out, **kw))


def _records(path):
    return [json.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def test_a_resume_leaves_finished_json_lines_unparsed_and_parses_only_the_edited_one(tmp_path, examples):
    from pmcomm_llm.batch.records import Resume, scan_output
    from pmcomm_llm.core.inputs import read_items

    items = _many(examples, 6)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    _offline_run(src, out)
    assert all(len(r["meta"]["input_hash"]) == 32 and r["meta"]["crc32"] for r in _records(out))
    items[2]["situation"] += " The client asked again."
    _write_jsonl(src, items)
    resume = Resume(scan_output(out))
    read = list(read_items(src, known=resume.known))
    assert [item.parsed for item in read] == [i == 2 for i in range(6)]
    verdicts = [resume.classify(item) for item in read]
    assert [(s.id if s else None, e) for s, e in verdicts] == [(None, None)] * 2 + [("item-0002", None)] + [
        (None, None)] * 3
    summary = _offline_run(src, out)
    assert (summary.drafted, summary.skipped) == (1, 5)
    assert sorted(_ids(out)) == [s["id"] for s in items], "the edited item's old line is replaced"


def test_an_output_written_before_input_hashes_resumes_by_content_hash(tmp_path, examples):
    items = _many(examples, 5)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    _offline_run(src, out)
    old = []
    for record in _records(out):  # as the previous version wrote them: no input hash, no checksum
        record["meta"] = {k: v for k, v in record["meta"].items() if k not in ("input_hash", "crc32")}
        old.append(json.dumps(record, ensure_ascii=False) + "\n")
    out.write_text("".join(old), encoding="utf-8")
    summary = _offline_run(src, out)
    assert (summary.drafted, summary.skipped, summary.failed) == (0, 5, 0)
    assert out.read_text(encoding="utf-8") == "".join(old), "nothing rewritten"
    items[4]["situation"] += " Edited."
    _write_jsonl(src, items)
    summary = _offline_run(src, out)
    assert (summary.drafted, summary.skipped) == (1, 4)
    assert sorted(_ids(out)) == [s["id"] for s in items]


def test_a_reformatted_input_line_with_the_same_content_is_not_drafted_again(tmp_path, examples):
    items = _many(examples, 3)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    _offline_run(src, out)
    src.write_text("".join(json.dumps(x, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n"
                           for x in items), encoding="utf-8")
    summary = _offline_run(src, out)
    assert (summary.drafted, summary.skipped) == (0, 3)


def test_a_line_damaged_between_intact_ends_is_caught_by_its_checksum(tmp_path, examples):
    items = _many(examples, 4)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    _offline_run(src, out)
    lines = out.read_bytes().splitlines(keepends=True)
    damaged = lines[1].replace(b'"body": "', b'"body": \x00"', 1)  # its head and tail still look right
    edited = lines[2].replace(b'"body": "', b'"body": "PS. ', 1)  # valid JSON, edited by hand
    out.write_bytes(lines[0] + damaged + edited + lines[3])
    summary = _offline_run(src, out)
    assert (summary.drafted, summary.skipped) == (1, 3), "only the damaged line is drafted again"
    assert (tmp_path / "out.jsonl.rejected").read_bytes() == damaged
    assert edited in out.read_bytes().splitlines(keepends=True), "a valid hand-edited line is kept"
    assert sorted(_ids(out)) == [s["id"] for s in items]


def test_a_copy_of_a_finished_line_is_still_a_duplicate_id(tmp_path, examples):
    items = _many(examples, 2)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    _offline_run(src, out)
    _write_jsonl(src, items + [items[0]])
    summary = _offline_run(src, out)
    assert (summary.skipped, summary.failed) == (2, 1)
    [error] = _records(tmp_path / "out.errors.jsonl")
    assert error["line"] == 3 and error["field"] == "id" and "duplicate id 'item-0000'" in error["message"]


def test_a_batch_api_output_resumes_a_draft_run_without_validating_it_again(tmp_path, examples):
    from pmcomm_llm.batch import batchapi
    from pmcomm_llm.batch.records import Resume, scan_output
    from pmcomm_llm.core.inputs import read_items
    from pmcomm_llm.core.settings import Settings

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, examples[:3])
    with FakeOpenAIServer(responder=offline_responder, batch_polls_to_complete=1) as srv:
        settings = Settings.resolve(backend="openai", base_url=srv.base_url, api_key="sk-test", model="m")
        summary = batchapi.run_batch_api(src, settings, out, poll_interval=0.01, poll_max_interval=0.02)
    assert summary.drafted == 3 and summary.extra["usage"]["output_tokens"] > 0
    resume = Resume(scan_output(out))
    assert not any(item.parsed for item in read_items(src, known=resume.known)), \
        "the collection wrote input hashes through the same journal as pmcomm draft"


# --- one runner: the Python API, events instead of prints -----------------------------------------------------

class _Rejecting:
    """A drafter whose key the provider rejects on the second item."""

    def __init__(self) -> None:
        from pmcomm_llm import Settings

        self.settings = Settings(backend="offline", concurrency=1)
        self.calls = 0

    async def adraft(self, scenario):
        from pmcomm_llm.core.errors import AuthenticationError
        from pmcomm_llm.drafting.chain import Drafter

        self.calls += 1
        if self.calls >= 2:
            raise AuthenticationError("the provider rejected the API key (401)")
        return Drafter(backend="offline").draft_offline(scenario)


def test_draft_many_stops_at_a_rejected_key_and_reports_the_rest_not_run(examples):
    from pmcomm_llm import draft_many

    drafter = _Rejecting()
    results = draft_many(_many(examples, 4), drafter, concurrency=1)
    assert [r.item_id for r in results] == ["item-0000", "item-0001", "item-0002", "item-0003"]
    assert results[0].draft is not None and results[0].error is None
    assert results[1].error["error_type"] == "AuthenticationError"
    assert [r.error["message"] for r in results[2:]] == ["not run: the run stopped earlier"] * 2
    assert drafter.calls == 2, "nothing was tried after the rejected key"


def test_a_file_run_reports_through_its_events_and_prints_nothing(tmp_path, examples, capsys):
    from pmcomm_llm import Settings
    from pmcomm_llm.batch.runner import RunEvents, RunOptions, arun_file
    from pmcomm_llm.drafting.chain import OFFLINE_NOTICE
    class Heard(RunEvents):
        def __init__(self) -> None:
            self.notices, self.failed_ids, self.lines = [], [], []

        def notice(self, message):
            self.notices.append(message)

        def failed(self, record):
            self.failed_ids.append(record["id"])

        def progressed(self, progress):
            self.lines.append(progress.line())

    bad = dict(examples[1], id="bad")
    del bad["situation"]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, [examples[0]])
    _offline_run(src, out)
    with out.open("ab") as handle:
        handle.write(b'{"id": "torn", "draft": {"sub')  # a line a kill tore: set aside, with a notice
    _write_jsonl(src, [examples[0], bad, examples[2]])
    capsys.readouterr()
    clock, heard = _Clock(), Heard()
    summary = asyncio.run(arun_file(str(src), Settings(backend="offline"),
                                    RunOptions(output=out, events=heard, clock=clock)))
    assert capsys.readouterr() == ("", "")
    assert len(heard.notices) == 2 and "kept aside" in heard.notices[0]
    assert heard.notices[1] == OFFLINE_NOTICE, "the drafter's notice is the run's, not a print"
    assert heard.failed_ids == ["bad"] and len(heard.lines) == 3
    assert heard.lines[-1].startswith("pmcomm: 2/2 · done 1 · failed 1 · skipped 1")
    assert summary.extra["wall_s"] == 0.0 and summary.extra["notices"] == heard.notices
