#!/usr/bin/env bash
# Generate an ML-KEM-1024 key pair for a SKIP Key Provider, with the reference Key Provider's
# flags, through `skip-server keygen` (no OpenSSL 3.5 or OQS provider needed).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: generate_mlkem_kp.sh -p PUBLIC_PEM -s PRIVATE_PEM [-f]

  -p FILE   where to write the public key (copy it to the peer Key Providers)
  -s FILE   where to write the private key (mode 0600; keep it on this Key Provider)
  -f        replace existing files (default: refuse)
  -h        this help

skip-server is found as $SKIP_SERVER, else `skip-server` on PATH, else dist/skip-server.js
of this checkout (run `npm run build` first).
USAGE
}

pub="" priv="" force=()
while getopts ":p:s:fh" opt; do
  case "$opt" in
    p) pub="$OPTARG" ;;
    s) priv="$OPTARG" ;;
    f) force=(--force) ;;
    h) usage; exit 0 ;;
    :) echo "generate_mlkem_kp.sh: -$OPTARG needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "generate_mlkem_kp.sh: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ -z "$pub" || -z "$priv" ]]; then
  echo "generate_mlkem_kp.sh: both -p and -s are required" >&2
  usage >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${SKIP_SERVER:-}" ]]; then
  read -r -a cmd <<<"$SKIP_SERVER"
elif command -v skip-server >/dev/null 2>&1; then
  cmd=(skip-server)
elif [[ -f "$here/../dist/skip-server.js" ]]; then
  cmd=(node "$here/../dist/skip-server.js")
else
  echo "generate_mlkem_kp.sh: skip-server not found (set SKIP_SERVER, or run npm run build)" >&2
  exit 1
fi

mkdir -p "$(dirname "$pub")" "$(dirname "$priv")"
exec "${cmd[@]}" keygen --pub "$pub" --priv "$priv" "${force[@]}"
