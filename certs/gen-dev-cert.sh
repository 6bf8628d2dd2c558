#!/usr/bin/env bash
# Regenerates the development CA and the server certificate it signs (localhost, 127.0.0.1,
# ::1), valid for 10 years. For local use and tests only: never deploy these.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=tollgate dev CA" -keyout "$tmp/ca.key" -out dev-ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=localhost" -keyout dev.key -out "$tmp/dev.csr" 2>/dev/null
cat > "$tmp/ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in "$tmp/dev.csr" -CA dev-ca.crt -CAkey "$tmp/ca.key" -CAcreateserial \
  -days 3650 -extfile "$tmp/ext" -out "$tmp/leaf.crt" 2>/dev/null
cat "$tmp/leaf.crt" dev-ca.crt > dev.crt
rm -f dev-ca.srl
echo "wrote certs/dev.crt (leaf + CA), certs/dev.key, certs/dev-ca.crt (trust this one)"
