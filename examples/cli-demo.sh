#!/usr/bin/env bash
# A walk through the tessera CLI: keys, an agent token, a signed request, verification, and two rejections.
# Run from the repository after `npm ci && npm run build`:  npm run demo
set -euo pipefail
cd "$(dirname "$0")/.."
tessera() { node packages/cli/dist/bin.js "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
show() { printf '\n$ %s\n' "$*"; }

show tessera keygen --kid agent-key-1 '>' agent.jwk
tessera keygen --kid agent-key-1 > "$work/agent.jwk"
show tessera keygen --kid ap-key-1 '>' ap.jwk
tessera keygen --kid ap-key-1 > "$work/ap.jwk"
show tessera keygen --public ap.jwk '>' ap.pub.jwk
tessera keygen --public "$work/ap.jwk" > "$work/ap.pub.jwk"
cat "$work/ap.pub.jwk"

claims=$(printf '{"iss":"https://agent.example","sub":"aauth:assistant@agent.example","cnf":{"jwk":%s}}' "$(tessera keygen --public "$work/agent.jwk")")
show tessera token mint --type agent --key ap.jwk --ttl 3600 --claims "'$claims'" '>' agent.jwt
tessera token mint --type agent --key "$work/ap.jwk" --ttl 3600 --claims "$claims" > "$work/agent.jwt"
show tessera token decode @agent.jwt
tessera token decode "@$work/agent.jwt"

show tessera http sign --key agent.jwk --token @agent.jwt --method POST --url https://resource.example/api/notes \
  -H "'Content-Type: application/json'" --body "'{\"text\":\"hello\"}'" '>' request.json
tessera http sign --key "$work/agent.jwk" --token "@$work/agent.jwt" --method POST --url https://resource.example/api/notes \
  -H 'Content-Type: application/json' --body '{"text":"hello"}' > "$work/request.json"
cat "$work/request.json"

show tessera http verify request.json --jwks https://agent.example=ap.pub.jwk --explain
tessera http verify "$work/request.json" --jwks "https://agent.example=$work/ap.pub.jwk" --explain

echo
echo '# The same request with its body changed is refused (Content-Digest no longer matches):'
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); r.body="{\"text\":\"tampered\"}"; process.stdout.write(JSON.stringify(r))' "$work/request.json" > "$work/tampered.json"
show tessera http verify tampered.json --jwks https://agent.example=ap.pub.jwk
tessera http verify "$work/tampered.json" --jwks "https://agent.example=$work/ap.pub.jwk" || echo "(exit $?)"

echo
echo '# Two minutes later the signature is outside the 60 s created window:'
later=$(( $(date +%s) + 120 ))
show tessera http verify request.json --jwks https://agent.example=ap.pub.jwk --now "$later"
tessera http verify "$work/request.json" --jwks "https://agent.example=$work/ap.pub.jwk" --now "$later" || echo "(exit $?)"
