#!/usr/bin/env bash
# Install code-server (a real VS Code served to a browser) for the end-to-end tests,
# into <repo>/.cache/code-server (git-ignored), outside the extension's own dependencies.
#
# Idempotent: when the cache folder already holds a working code-server it does nothing.
# Uses code-server 4.100.3 on the machine's Node 20. Its postinstall wants to download
# ripgrep from GitHub, which is not reachable here: we put a ripgrep tarball (the `rg`
# binary shipped in the npm package @vscode/ripgrep-universal) into the cache folder that
# @vscode/ripgrep's postinstall looks in first.
#
# Env:
#   CODE_SERVER_DIR      install folder (default <repo>/.cache/code-server)
#   CODE_SERVER_VERSION  default 4.100.3
#   CODE_SERVER_FORCE=1  reinstall even if present
# Prints the path of the code-server launcher on its last line of stdout.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${CODE_SERVER_VERSION:-4.100.3}"
DIR="${CODE_SERVER_DIR:-$REPO/.cache/code-server}"
BIN="$DIR/node_modules/code-server/out/node/entry.js"
LAUNCHER="$DIR/node_modules/.bin/code-server"
STAMP="$DIR/.installed-$VERSION"

log() { echo "[install-code-server] $*" >&2; }

if [[ "${CODE_SERVER_FORCE:-0}" != 1 && -f "$STAMP" && -x "$LAUNCHER" && -f "$BIN" ]]; then
  log "cached: code-server $VERSION in $DIR"
  echo "$LAUNCHER"
  exit 0
fi

need() { command -v "$1" >/dev/null 2>&1 || { log "missing: $1 ($2)"; exit 1; }; }
need node "Node.js 20"
need npm "npm"
need tar "tar"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$NODE_MAJOR" != 20 ]]; then
  log "warning: code-server $VERSION is built for Node 20, this is Node $(node --version)"
fi
# One of code-server's native modules (kerberos) needs the Kerberos headers.
if [[ ! -e /usr/include/gssapi/gssapi.h && ! -e /usr/include/krb5.h ]]; then
  log "Kerberos headers missing: apt-get install -y libkrb5-dev (trying)"
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    apt-get install -y libkrb5-dev >&2 || { apt-get update >&2 && apt-get install -y libkrb5-dev >&2; }
  fi
fi

START=$(date +%s)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$DIR"

# 1. ripgrep for @vscode/ripgrep's postinstall, from the npm registry.
log "fetching @vscode/ripgrep-universal for the rg binary"
( cd "$TMP" && npm pack --silent @vscode/ripgrep-universal >/dev/null )
mkdir -p "$TMP/rgpkg" "$TMP/rg"
tar xzf "$TMP"/vscode-ripgrep-universal-*.tgz -C "$TMP/rgpkg"
RG="$(find "$TMP/rgpkg" -path '*linux-x64*' -name rg -type f | head -n1)"
[[ -n "$RG" ]] || { log "no linux-x64 rg in @vscode/ripgrep-universal"; exit 1; }
cp "$RG" "$TMP/rg/rg" && chmod +x "$TMP/rg/rg"
# @vscode/ripgrep looks in $TMPDIR/vscode-ripgrep-cache-<its version>; code-server 4.100.3
# pins @vscode/ripgrep 1.15.11 (ripgrep v13.0.0-10). Seed a few likely versions.
RG_TMP="${TMPDIR:-/tmp}"
for v in 1.15.9 1.15.10 1.15.11 1.15.12 1.15.13 1.15.14; do
  mkdir -p "$RG_TMP/vscode-ripgrep-cache-$v"
  for t in ripgrep-v13.0.0-10-x86_64-unknown-linux-musl ripgrep-v13.0.0-11-x86_64-unknown-linux-musl ripgrep-v13.0.0-13-x86_64-unknown-linux-musl; do
    f="$RG_TMP/vscode-ripgrep-cache-$v/$t.tar.gz"
    [[ -f "$f" ]] || tar czf "$f" -C "$TMP/rg" rg
  done
done

# 2. code-server itself, in its own package folder.
[[ -f "$DIR/package.json" ]] || printf '{ "name": "neftune-e2e-code-server", "private": true }\n' > "$DIR/package.json"
log "npm install code-server@$VERSION into $DIR (about 75 s)"
( cd "$DIR" && \
  npm_config_unsafe_perm=true npm_config_yes=true npm_config_fund=false npm_config_audit=false \
  npm install --no-save --no-package-lock --loglevel=error "code-server@$VERSION" >&2 )

[[ -f "$BIN" && -x "$LAUNCHER" ]] || { log "install finished but $LAUNCHER is missing"; exit 1; }
XDG_CONFIG_HOME="$TMP/xdg-config" XDG_DATA_HOME="$TMP/xdg-data" "$LAUNCHER" --version >&2
touch "$STAMP"
log "installed code-server $VERSION in $(( $(date +%s) - START )) s"
echo "$LAUNCHER"
