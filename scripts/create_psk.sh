#!/usr/bin/env bash
# Add a TLS-PSK identity for an encryptor (router), with the reference Key Provider's flags.
# Unlike the reference, it appends to the file (refusing an identity already there) instead of
# overwriting it, creates the file with mode 0600, and keeps an existing file's owner, group and
# group bits (removing only access for others).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: create_psk.sh -i IDENTITY [-l BYTES] [-f FILE]

  -i IDENTITY  the encryptor's PSK identity (required; no spaces or ':' at the end)
  -l BYTES     key length in bytes, 16 to 256 (default: 48)
  -f FILE      the PSK file (default: psk.txt); created with mode 0600 if absent
  -h           this help

Prints the router line: psk id IDENTITY key hex KEY
USAGE
}

identity="" bytes=48 file="psk.txt"
while getopts ":i:l:f:h" opt; do
  case "$opt" in
    i) identity="$OPTARG" ;;
    l) bytes="$OPTARG" ;;
    f) file="$OPTARG" ;;
    h) usage; exit 0 ;;
    :) echo "create_psk.sh: -$OPTARG needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "create_psk.sh: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ -z "$identity" ]]; then
  echo "create_psk.sh: -i IDENTITY is required" >&2
  usage >&2
  exit 2
fi
if [[ ! "$identity" =~ ^[[:graph:]]+$ || ${#identity} -gt 128 || "$identity" == *: ]]; then
  echo "create_psk.sh: identity must be 1 to 128 printable characters without spaces, not ending in ':'" >&2
  exit 2
fi
if [[ ! "$bytes" =~ ^[0-9]+$ || "$bytes" -lt 16 || "$bytes" -gt 256 ]]; then
  echo "create_psk.sh: -l must be 16 to 256 bytes, not '$bytes'" >&2
  exit 2
fi
command -v openssl >/dev/null 2>&1 || { echo "create_psk.sh: the openssl command is required" >&2; exit 1; }

if [[ -e "$file" ]]; then
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ "${line%:*}" == "$identity" ]]; then
      echo "create_psk.sh: identity '$identity' is already in $file" >&2
      exit 1
    fi
  done <"$file"
fi
umask 077
existed=0
[[ -e "$file" ]] && existed=1
key="$(openssl rand -hex "$bytes")"
printf '%s:%s\n' "$identity" "$key" >>"$file"
# A new file is 0600; an existing one keeps its owner, group and group bits (the systemd layout
# makes it readable by the service's group) and loses any access for others.
if [[ $existed -eq 1 ]]; then chmod o-rwx "$file"; else chmod 600 "$file"; fi
echo "added '$identity' to $file (mode $(stat -c %a "$file"))"
echo "router: psk id $identity key hex $key"
