# Everything a fresh machine needs: Python >= 3.11, git and make. Each target installs what it uses
# into .venv from the pinned constraints, so a clean clone behaves like CI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench lock clean cassettes

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pmcomm-llm needs Python >= 3.11 (set PYTHON=python3.11 or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## Draft every example scenario offline; the drafts land in out/drafts.jsonl (and out/drafts.md to read).
demo: $(STAMP)
	@mkdir -p out
	$(BIN)/pmcomm draft examples/scenarios.json --backend offline -o out/drafts.jsonl
	$(BIN)/pmcomm draft examples/scenarios.json --backend offline --format md -o out/drafts.md --quiet
	@echo "Drafts written to out/drafts.jsonl (one JSON line per scenario) and out/drafts.md (readable)."

## The whole suite: unit, CLI, cassette replays, local-server contract tests and the notebooks. No network.
test: $(STAMP)
	$(BIN)/python -m pytest --record-mode=none --nbmake -q

bench: $(STAMP)
	$(BIN)/python benchmarks/eval_speed.py
	$(BIN)/python benchmarks/batch_throughput.py

## Re-pin constraints.txt from a fresh resolve of pyproject.toml (run when dependencies change).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[test]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) out build dist

## Re-record the OpenAI-path cassettes. Against the bundled local server by default; against a real provider with
## RECORD_OPENAI_BASE_URL=https://api.openai.com/v1 RECORD_OPENAI_API_KEY=sk-... [RECORD_MODEL=gpt-4.1-mini].
cassettes: $(STAMP)
	rm -f tests/cassettes/*.yaml
	$(BIN)/python -m pytest tests/test_openai_cassettes.py --record-mode=rewrite -q
