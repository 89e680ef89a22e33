#!/usr/bin/env bash
# Install front-end packages from npm (locked) and copy what the pages load into static/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.stamp ]; then
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
  touch node_modules/.stamp
fi
mkdir -p static/vendor/swagger-ui
cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
cp node_modules/socket.io-client/dist/socket.io.min.js static/vendor/socket.io.min.js
for f in swagger-ui.css swagger-ui-bundle.js swagger-ui-standalone-preset.js; do
  cp "node_modules/swagger-ui-dist/$f" "static/vendor/swagger-ui/$f"
done
