"""Nothing lost, nothing hung, nothing overwritten: each case of the reliability issue, with the exactly-once
check of every run it makes.

Filesystem faults are real where the machine allows it (a small tmpfs, mounted by the test, for a full disk
and a read-only location); elsewhere the same tests inject the ``OSError`` at the write.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from helpers import ids as _ids
from helpers import many as _many
from helpers import write_jsonl as _write_jsonl

from pmcomm_llm import Settings
from pmcomm_llm.batch.runner import RunOptions, arun_file
from pmcomm_llm.cli.commands import cli
from pmcomm_llm.core.files import RunLock
from pmcomm_llm.drafting.chain import Drafter
from pmcomm_llm.testing import FakeOpenAIServer, Status
from pmcomm_llm.testing.responders import judge_responder, offline_responder

ROOT = Path(__file__).resolve().parent.parent


# --- helpers ------------------------------------------------------------------------------------------------







def _exactly_once(items: list[dict[str, Any]], out: Path, errors: Path, not_run: int = 0) -> None:
    """The invariant, checked from the files: every item once in output or errors (or left for the re-run)."""
    landed = _ids(out) + _ids(errors)
    assert len(landed) == len(set(landed)), "an item landed twice"
    assert len(landed) + not_run == len(items)
    assert set(landed) <= {s["id"] for s in items}


def _invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _chat_calls(server: FakeOpenAIServer) -> int:
    return sum(1 for r in server.requests if "/chat/completions" in r.path)


class _Disk:
    """A directory whose file system can be filled or made read-only: a real tmpfs, or injected faults."""

    def __init__(self, path: Path, real: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = path
        self.real = real
        self.monkeypatch = monkeypatch
        self.fault: int | None = None
        self.after = 0

    def _mount(self, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True, capture_output=True)

    def fill_after(self, size_kib: int, writes: int) -> None:
        """Let about ``size_kib`` (tmpfs) or ``writes`` appends (injected) through, then fail with ENOSPC."""
        if self.real:
            self._mount(f"size={size_kib}k")
        else:
            self._inject(errno.ENOSPC, writes)

    def read_only(self) -> None:
        if self.real:
            self._mount("ro")
        else:
            self._inject(errno.EROFS, 0)

    def heal(self) -> None:
        if self.real:
            self._mount("rw,size=64m")
        else:
            self.fault = None

    def _inject(self, code: int, writes: int) -> None:
        import pmcomm_llm.batch.records as records
        import pmcomm_llm.core.files as files

        self.fault, self.after = code, writes
        disk = self
        real_write, real_open, real_mkstemp = os.write, os.open, files.tempfile.mkstemp

        def write(fd: int, data: Any) -> int:
            if disk.fault is not None:
                if disk.after <= 0:
                    raise OSError(disk.fault, os.strerror(disk.fault))
                disk.after -= 1
            return real_write(fd, data)

        def opener(path: Any, flags: int, *args: Any) -> int:
            if disk.fault == errno.EROFS and str(path).startswith(str(disk.path)) and flags & (os.O_WRONLY | os.O_RDWR):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args)

        def mkstemp(*args: Any, **kwargs: Any) -> Any:
            if disk.fault is not None and str(kwargs.get("dir", "")).startswith(str(disk.path)):
                raise OSError(disk.fault, os.strerror(disk.fault))
            return real_mkstemp(*args, **kwargs)

        self.monkeypatch.setattr(records.os, "write", write)
        self.monkeypatch.setattr(records.os, "open", opener)
        self.monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)


@pytest.fixture()
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Disk]:
    path = tmp_path / "disk"
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(path)],
                             capture_output=True).returncode == 0
    try:
        yield _Disk(path, mounted, monkeypatch)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _flagging_responder(request: dict[str, Any]) -> dict[str, Any]:
    """A model that always adds a date the scenario does not have: the guard flags every draft."""
    content = offline_responder(request)
    content["body"] += "\n\nP.S. We guarantee completion by 2031-09-30."
    return content


# --- 1. a worker that meets an unexpected error -------------------------------------------------------------

@pytest.mark.parametrize("failing", [{"item-0003", "item-0007"}, "all"])
def test_an_unexpected_worker_error_becomes_that_items_error_and_the_run_finishes(tmp_path, examples, monkeypatch,
                                                                                   failing):
    items = _many(examples, 20)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    original = Drafter.adraft

    async def adraft(self: Drafter, scenario: Any) -> Any:
        if failing == "all" or scenario.id in failing:
            raise AttributeError("'list' object has no attribute 'get'")  # what an odd reply used to raise
        return await original(self, scenario)

    monkeypatch.setattr(Drafter, "adraft", adraft)
    options = RunOptions(output=out)
    summary = asyncio.run(asyncio.wait_for(arun_file(str(src), Settings(backend="offline", concurrency=4),
                                                     options), timeout=60))
    errors = [json.loads(x) for x in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    expected = {s["id"] for s in items} if failing == "all" else failing
    assert {e["id"] for e in errors} == expected
    assert {(e["stage"], e["error_type"]) for e in errors} == {("internal", "AttributeError")}
    assert summary.failed == len(expected) and summary.drafted == 20 - len(expected)
    _exactly_once(items, out, tmp_path / "out.errors.jsonl")


def test_a_full_disk_stops_the_run_with_exit_3_and_the_same_command_resumes(tmp_path, examples, disk):
    items = _many(examples, 120)
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, items)
    out, errors = disk.path / "out.jsonl", disk.path / "out.errors.jsonl"
    disk.fill_after(size_kib=96, writes=25)
    first = _invoke("draft", str(src), "-o", str(out), "--backend", "offline", "--quiet")
    assert first.exit_code == 3
    assert "the disk is full" in first.output and "resume" in first.output
    partial = _ids(out)  # whole lines only: a failed append is rolled back
    assert 0 < len(partial) < len(items)
    disk.heal()
    second = _invoke("draft", str(src), "-o", str(out), "--backend", "offline", "--quiet")
    assert second.exit_code == 0, second.output
    assert sorted(_ids(out)) == sorted(s["id"] for s in items)
    _exactly_once(items, out, errors)


def test_a_disk_that_fills_while_writing_input_errors_stops_cleanly_and_resumes(tmp_path, examples, disk):
    bad = [dict(examples[0], id=f"bad-{i:03d}", kind="postpone") for i in range(300)]
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, bad)
    out, errors = disk.path / "out.jsonl", disk.path / "out.errors.jsonl"
    disk.fill_after(size_kib=16, writes=20)
    first = _invoke("draft", str(src), "-o", str(out), "--backend", "offline", "--quiet")
    assert first.exit_code == 3 and "the disk is full" in first.output
    assert "internal error" not in first.output, "an error record that could not be written is left, not lost"
    disk.heal()
    second = _invoke("draft", str(src), "-o", str(out), "--backend", "offline", "--quiet")
    assert second.exit_code == 1
    _exactly_once(bad, out, errors)


def test_a_read_only_output_location_is_one_clear_message_not_a_traceback(tmp_path, examples, disk):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(examples[:3], ensure_ascii=False), encoding="utf-8")
    disk.read_only()
    result = _invoke("draft", str(src), "-o", str(disk.path / "out.jsonl"), "--backend", "offline", "--quiet")
    assert result.exit_code == 3
    assert "read-only" in result.output and "Traceback" not in result.output


# --- 2. never destroy a file we did not write ---------------------------------------------------------------

@pytest.mark.parametrize("target", ["output-is-input", "errors-is-input", "foreign-jsonl", "foreign-md"])
def test_a_path_pmcomm_did_not_write_is_refused_and_left_untouched(tmp_path, examples, target):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, examples[:3])
    notes = tmp_path / "notes.txt"
    notes.write_text("Meeting notes, do not lose\nline two\n", encoding="utf-8")
    args = {"output-is-input": ["-o", str(src)],
            "errors-is-input": ["-o", str(tmp_path / "o.jsonl"), "--errors", str(src)],
            "foreign-jsonl": ["-o", str(notes)],
            "foreign-md": ["-o", str(notes), "--format", "md"]}[target]
    before = {p: p.read_bytes() for p in (src, notes)}
    result = _invoke("draft", str(src), *args, "--backend", "offline", "--quiet")
    assert result.exit_code == 2
    assert ("is the input file" if "input" in target else "does not look like a pmcomm") in result.output
    assert {p: p.read_bytes() for p in (src, notes)} == before


def test_markdown_output_we_wrote_is_replaced_on_the_next_run(tmp_path, examples):
    src, md = tmp_path / "in.json", tmp_path / "drafts.md"
    src.write_text(json.dumps(examples[:2], ensure_ascii=False), encoding="utf-8")
    for _ in range(2):
        assert _invoke("draft", str(src), "-o", str(md), "--format", "md", "--backend", "offline",
                       "--quiet").exit_code == 0
    assert md.read_text(encoding="utf-8").count(f"## {examples[0]['id']} ") == 1


# --- 3. a garbled line in the middle of an output ---------------------------------------------------------

def test_a_garbled_line_is_kept_aside_and_never_truncates_what_follows(tmp_path, examples, server, monkeypatch):
    items = _many(examples, 10)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    assert _invoke("draft", str(src), "-o", str(out), "--no-cache", "--quiet").exit_code == 0
    lines = out.read_bytes().splitlines(keepends=True)
    garbled = b'{"id": "item-0003", "draft": {"subj\x00\n'
    victim = json.loads(lines[3])["id"]
    out.write_bytes(b"".join(lines[:3] + [garbled] + lines[4:]))
    after = {json.loads(x)["id"]: x for x in lines[4:]}
    calls = _chat_calls(server)
    result = _invoke("draft", str(src), "-o", str(out), "--no-cache")
    assert result.exit_code == 0
    assert "kept aside" in result.output and "line 4" in result.output
    assert _chat_calls(server) == calls + 1, "only the garbled item is drafted (and paid for) again"
    kept = {json.loads(x)["id"]: x for x in out.read_bytes().splitlines(keepends=True)}
    assert all(kept[i] == raw for i, raw in after.items()), "lines after the garbled one are untouched"
    assert victim in kept
    assert (tmp_path / "out.jsonl.rejected").read_bytes() == garbled
    _exactly_once(items, out, tmp_path / "out.errors.jsonl")


# --- 4. one run per output ----------------------------------------------------------------------------------

class _Gate:
    """A model that answers the first ``free`` requests at once and holds every later answer until ``open()``:
    a run that provably is still going, for as long as the test needs, without a timed latency."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.answered = 0
        self.opened = threading.Event()

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        self.answered += 1
        if self.answered > self.free:
            self.opened.wait(60)
        return offline_responder(request)

    def open(self) -> None:
        self.opened.set()


def test_a_second_run_on_the_same_output_fails_fast_and_the_first_finishes(tmp_path, examples):
    items = _many(examples, 30)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    gate = _Gate(free=2)
    with FakeOpenAIServer(responder=gate) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PMCOMM_", "OPENAI_"))}
        env.update(OPENAI_BASE_URL=server.base_url, PMCOMM_CACHE_DIR=str(tmp_path / "cache"))
        cmd = [sys.executable, "-m", "pmcomm_llm.cli.commands", "draft", str(src), "-o", str(out),
               "--concurrency", "1", "--quiet", "--no-cache"]
        first = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not (out.exists() and out.read_bytes().count(b"\n") >= 2) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert first.poll() is None, "the first run is held at its third item"
            started = time.monotonic()
            second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
            assert second.returncode == 2 and "another pmcomm run is writing" in second.stderr
            assert time.monotonic() - started < 10
        finally:
            gate.open()
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
    assert sorted(_ids(out)) == sorted(s["id"] for s in items)


def test_a_batch_api_run_on_a_locked_output_fails_fast(tmp_path, examples, server, monkeypatch):
    src, out = tmp_path / "in.json", tmp_path / "out.jsonl"
    src.write_text(json.dumps(examples[:2], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    with RunLock(out):
        result = _invoke("draft", str(src), "-o", str(out), "--mode", "batch-api", "--quiet")
    assert result.exit_code == 2 and "another pmcomm batch run is writing" in result.output
    assert not [r for r in server.requests if "/files" in r.path or "/batches" in r.path]


def test_batch_state_saves_from_two_writers_never_share_a_temp_file(tmp_path):
    from pmcomm_llm.batch.batchapi import BatchState

    state = BatchState(run_id="r", created_at="2027-01-01T00:00:00+00:00", input="i", input_origin="i",
                       output="o", errors="e", settings={}, prompt_version="p", counts={}, jobs=[])
    target = tmp_path / "s.batch.json"
    failures: list[BaseException] = []

    def save() -> None:
        try:
            for _ in range(100):
                state.model_copy().save(target)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert BatchState.load(target).run_id == "r"
    assert not list(tmp_path.glob("*.tmp"))


# --- 5. user-facing faults are messages, not tracebacks ---------------------------------------------------

def test_a_corrupt_cache_stops_with_exit_3_and_says_what_to_do(tmp_path, examples, server, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    (cache / "drafts.sqlite3").write_bytes(b"this is not a database" * 100)
    src = tmp_path / "in.json"
    src.write_text(json.dumps(examples[:2], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    result = _invoke("draft", str(src), "-o", str(tmp_path / "o.jsonl"), "--quiet")
    assert result.exit_code == 3
    assert "cache" in result.output and "corrupt" in result.output and "--no-cache" in result.output
    assert _chat_calls(server) == 0


def test_a_full_disk_in_batch_api_mode_is_a_message(tmp_path, examples, server, monkeypatch, disk):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(examples, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    disk.fill_after(size_kib=8, writes=0)
    if not disk.real:  # the batch files are written with plain file objects: fail them at the directory
        disk.read_only()
    result = CliRunner().invoke(cli, ["draft", str(src), "-o", str(disk.path / "out.jsonl"), "--mode",
                                      "batch-api", "--poll-interval", "0.01", "--quiet"])
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "could not " in result.output and "run the same command again to resume" in result.output


def test_a_full_disk_under_eval_leaves_no_truncated_report(tmp_path, disk):
    report = disk.path / "report.json"
    args = ["eval", "--scenarios", str(ROOT / "evals/golden/scenarios.json"), "--drafts",
            str(ROOT / "evals/golden/drafts.jsonl"), "-o", str(report)]
    CliRunner().invoke(cli, args)
    whole = report.read_bytes()
    disk.fill_after(size_kib=len(whole) // 1024 + 8, writes=0)
    if disk.real:  # leave room for less than a second copy of the report
        filler = disk.path / "filler"
        with filler.open("wb") as handle:
            try:
                handle.write(b"\0" * (1 << 20))
            except OSError:
                pass
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3 and "the disk is full" in result.output
    assert report.read_bytes() == whole, "the old report stays whole"
    assert not [p for p in disk.path.iterdir() if p.name.endswith(".tmp")]


def test_deeply_nested_json_lines_are_item_errors_and_later_lines_still_draft(tmp_path, examples):
    deep = "[" * 10_000 + "]" * 10_000
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join([json.dumps(examples[0], ensure_ascii=False), deep,
                              json.dumps(examples[1], ensure_ascii=False)]) + "\n", encoding="utf-8")
    result = _invoke("draft", str(src), "-o", str(out), "--backend", "offline", "--quiet")
    assert result.exit_code == 1
    assert _ids(out) == [examples[0]["id"], examples[1]["id"]]
    [error] = [json.loads(x) for x in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert error["line"] == 2 and "nested too deeply" in error["message"]
    array = tmp_path / "in.json"
    array.write_text("[" + json.dumps(examples[0], ensure_ascii=False) + "," + deep + "]", encoding="utf-8")
    result = _invoke("draft", str(array), "-o", str(tmp_path / "a.jsonl"), "--backend", "offline", "--quiet")
    assert result.exit_code == 2 and "item 2 is nested too deeply" in result.output


def test_ctrl_c_during_start_up_is_one_line_and_exit_130(tmp_path, examples):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(examples[:1], ensure_ascii=False), encoding="utf-8")
    # SIGINT arrives 50 ms into main(): while the draft command is still importing what it needs
    code = ("import signal, sys; from pmcomm_llm.cli.commands import main; signal.setitimer(signal.ITIMER_REAL, 0.05); "
            "signal.signal(signal.SIGALRM, lambda *a: signal.raise_signal(signal.SIGINT)); "
            f"sys.argv = ['pmcomm', 'draft', {str(src)!r}, '-o', {str(tmp_path / 'o.jsonl')!r}, '--quiet']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# --- 6. one failed judge call ------------------------------------------------------------------------------

def test_a_failed_judge_call_leaves_that_draft_ungraded_and_the_report_whole(tmp_path):
    report = tmp_path / "report.json"
    drafts = tmp_path / "d.jsonl"
    drafts.write_text("".join((ROOT / "evals/golden/drafts.jsonl").read_text().splitlines(True)[:6]))
    with FakeOpenAIServer(responder=judge_responder) as server:
        server.enqueue(Status(400, body={"error": {"message": "bad request", "type": "invalid_request_error"}}))
        result = CliRunner().invoke(cli, [
            "eval", "--scenarios", str(ROOT / "evals/golden/scenarios.json"), "--drafts", str(drafts),
            "-o", str(report), "--judge", "openai", "--judge-model", "judge-model", "--judge-base-url",
            server.base_url], env={"PMCOMM_JUDGE_API_KEY": "sk-judge-test"})
    assert result.exit_code == 1
    data = json.loads(report.read_text())
    ungraded = [r for r in data["results"] if r.get("ungraded")]
    assert len(ungraded) == 1 and "400" in ungraded[0]["ungraded"]
    graded = [r for r in data["results"] if not r.get("ungraded")]
    assert len(graded) == 5 and all(any(c["grader"] == "judge" for c in r["checks"]) for r in graded)
    assert data["summary"]["ungraded"] == 1


# --- 7. out of file descriptors ----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_low_open_file_limit_lowers_concurrency_and_loses_nothing(tmp_path, examples):
    items = _many(examples, 600)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, items)
    with FakeOpenAIServer(responder=offline_responder) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PMCOMM_", "OPENAI_"))}
        env.update(OPENAI_BASE_URL=server.base_url, PMCOMM_CACHE_DIR=str(tmp_path / "cache"))

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

        proc = subprocess.run([sys.executable, "-m", "pmcomm_llm.cli.commands", "draft", str(src), "-o", str(out),
                               "--concurrency", "256", "--no-cache"], env=env, capture_output=True, text=True,
                              timeout=300, preexec_fn=limit)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "concurrency lowered from 256" in proc.stderr
    assert sorted(_ids(out)) == sorted(s["id"] for s in items)


# --- 8. limits and hygiene ---------------------------------------------------------------------------------

def test_a_credential_in_the_base_url_never_reaches_errors_or_the_summary(tmp_path, examples, server):
    src, out = tmp_path / "in.json", tmp_path / "o.jsonl"
    src.write_text(json.dumps(examples[:2], ensure_ascii=False), encoding="utf-8")
    server.enqueue(*[Status(500)] * 40)
    url = server.base_url + "?api-key=SECRET-IN-URL-123"
    result = _invoke("draft", str(src), "-o", str(out), "--no-cache", "--quiet",
                     env={"OPENAI_BASE_URL": url, "PMCOMM_MAX_RETRIES": "0", "PMCOMM_BACKOFF_MAX": "0.01"})
    assert result.exit_code == 1
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"SECRET-IN-URL-123" not in written and "SECRET-IN-URL-123" not in result.output
    assert b"api-key=REDACTED" in (tmp_path / "o.errors.jsonl").read_bytes(), "the endpoint is named, redacted"


def test_pickled_settings_carry_no_key():
    settings = Settings(api_key="sk-live-do-not-leak", judge_api_key="sk-judge-do-not-leak", model="m")
    blob = pickle.dumps(settings)
    assert b"do-not-leak" not in blob
    restored = pickle.loads(blob)
    assert restored.api_key is None and restored.model == "m"


@pytest.mark.parametrize("field, value, message", [
    ("id", "line one\nline two", "one line of text"),
    ("situation", "x" * 20_001, "more than the 20,000"),
])
def test_ids_and_text_fields_have_limits_with_clear_messages(tmp_path, examples, field, value, message):
    bad = dict(examples[0], **{field: value})
    src, out = tmp_path / "in.json", tmp_path / "o.jsonl"
    src.write_text(json.dumps([bad, examples[1]], ensure_ascii=False), encoding="utf-8")
    result = _invoke("draft", str(src), "-o", str(out), "--backend", "offline", "--quiet")
    assert result.exit_code == 1
    [error] = [json.loads(x) for x in (tmp_path / "o.errors.jsonl").read_text().splitlines()]
    assert error["field"] == field and message in error["message"]
    assert _ids(out) == [examples[1]["id"]]


def test_strict_makes_flagged_drafts_exit_4_and_a_rerun_costs_nothing(tmp_path, examples, monkeypatch):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(examples[:3], ensure_ascii=False), encoding="utf-8")
    with FakeOpenAIServer(responder=_flagging_responder) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("PMCOMM_MAX_REASKS", "1")
        plain = _invoke("draft", str(src), "-o", str(tmp_path / "a.jsonl"), "--quiet")
        assert plain.exit_code == 0
        paid = _chat_calls(server)
        assert paid == 3 * 2  # one draft + one guard re-ask each
        strict = _invoke("draft", str(src), "-o", str(tmp_path / "b.jsonl"), "--quiet", "--strict")
        assert strict.exit_code == 4 and "flagged 3" in strict.output
        assert _chat_calls(server) == paid, "flagged drafts come from the cache: the re-run is free"
        again = _invoke("draft", str(src), "-o", str(tmp_path / "a.jsonl"), "--quiet", "--redraft-flagged")
        assert again.exit_code == 0
        assert _chat_calls(server) == 2 * paid, "--redraft-flagged asks again on purpose"
    assert sorted(_ids(tmp_path / "a.jsonl")) == sorted(s["id"] for s in examples[:3])
