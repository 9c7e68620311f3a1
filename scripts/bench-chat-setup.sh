#!/usr/bin/env bash
# The chat benchmark's peers (bench/chat): @huggingface/transformers (transformers.js) and
# node-llama-cpp, installed into bench/chat/node_modules from bench/chat/package.json and its
# lockfile, never into the extension's package.json (node-llama-cpp's optional binaries for
# CUDA and Vulkan alone are ~670 MB). Idempotent: does nothing when the stamp matches.
#
#   - install scripts off (--ignore-scripts): onnxruntime-node's would fetch CUDA add-ons,
#     node-llama-cpp's would try to build llama.cpp; neither is needed on CPU;
#   - optional dependencies off, then only this platform's prebuilt llama.cpp binary
#     (@node-llama-cpp/<platform>-<arch>), not saved (the lockfile stays as committed);
#   - sharp is a local stub (bench/chat/sharp-stub): transformers.js requires it at load, for
#     images the benchmark never uses.
# `npm install`, not `npm ci`: the registry here lacks node-llama-cpp's binaries for other
# platforms, so the lockfile cannot list them and `npm ci` refuses it as out of sync.
#
# Env: BENCH_CHAT_FORCE=1 reinstalls.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$REPO/bench/chat"
NLC_VERSION="$(node -p "require('$DIR/package.json').dependencies['node-llama-cpp']")"
case "$(node -p 'process.platform + "-" + process.arch')" in
  linux-x64) NLC_BIN=linux-x64 ;;
  linux-arm64) NLC_BIN=linux-arm64 ;;
  darwin-arm64) NLC_BIN=mac-arm64-metal ;;
  darwin-x64) NLC_BIN=mac-x64 ;;
  win32-x64) NLC_BIN=win-x64 ;;
  win32-arm64) NLC_BIN=win-arm64 ;;
  *) echo "[bench-chat-setup] no prebuilt node-llama-cpp binary known for $(node -p 'process.platform + "-" + process.arch')" >&2; exit 1 ;;
esac
STAMP="$DIR/node_modules/.stamp-$(cat "$DIR/package.json" "$DIR/package-lock.json" | sha1sum | cut -c1-12)"

log() { echo "[bench-chat-setup] $*" >&2; }

if [[ "${BENCH_CHAT_FORCE:-0}" != 1 && -f "$STAMP" ]]; then
  log "cached: $DIR/node_modules"
  exit 0
fi
cd "$DIR"
rm -rf node_modules
ONNXRUNTIME_NODE_INSTALL=skip npm install --ignore-scripts --omit=optional --no-audit --no-fund --loglevel=error >&2
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --ignore-scripts --omit=optional --no-audit --no-fund --loglevel=error "@node-llama-cpp/$NLC_BIN@$NLC_VERSION" >&2
# Both load: transformers.js (with the sharp stub and onnxruntime-node's native binding), and
# llama.cpp's binding (from a file: node-llama-cpp tests its binary by forking its own module,
# which fails under `node -e`).
(cd "$REPO" && node --input-type=module -e "await import('./bench/chat/node_modules/@huggingface/transformers/dist/transformers.node.mjs')" >&2)
node "$DIR/llama_peer.mjs" --check
touch "$STAMP"
log "installed: transformers.js $(node -p "require('./node_modules/@huggingface/transformers/package.json').version"), node-llama-cpp $NLC_VERSION ($NLC_BIN), $(du -sh node_modules | cut -f1)"
