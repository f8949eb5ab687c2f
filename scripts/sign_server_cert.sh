#!/usr/bin/env bash
# Issue a Key Provider certificate signed by the CA, with the reference Key Provider's interface:
#   sign_server_cert.sh -c CA.pem -k CA.key -o OUTDIR CN "DNS1,DNS2" "IP1,IP2"
# -> OUTDIR/<name>.pem.crt and OUTDIR/<name>_key.pem, <name> being CN up to its first dot.
# The certificate serves both ends of the peer link (serverAuth and clientAuth).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: sign_server_cert.sh -c CA_CERT -k CA_KEY [-o OUTDIR] [-f] COMMON_NAME [DNS_SANS] [IP_SANS]

  -c FILE   CA certificate (from create_ca.sh)
  -k FILE   CA private key
  -o DIR    output directory (default: .)
  -f        replace existing files
  -h        this help
  COMMON_NAME   the Key Provider's name, e.g. skip1.cml.lab (its localSystemID is a good choice)
  DNS_SANS      comma-separated DNS names, e.g. "skip1.cml.lab,localhost"
  IP_SANS       comma-separated IP addresses, e.g. "10.89.0.2,127.0.0.1"

Writes OUTDIR/NAME.pem.crt and OUTDIR/NAME_key.pem (mode 0600), NAME = COMMON_NAME up to its
first dot. Environment: SERVER_KEY_SIZE (RSA bits, default 2048), SERVER_VALIDITY_DAYS (825).
USAGE
}

ca="" cakey="" out="." force=0
while getopts ":c:k:o:fh" opt; do
  case "$opt" in
    c) ca="$OPTARG" ;;
    k) cakey="$OPTARG" ;;
    o) out="$OPTARG" ;;
    f) force=1 ;;
    h) usage; exit 0 ;;
    :) echo "sign_server_cert.sh: -$OPTARG needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "sign_server_cert.sh: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ -z "$ca" || -z "$cakey" || $# -lt 1 || $# -gt 3 ]]; then
  echo "sign_server_cert.sh: -c, -k and a COMMON_NAME are required" >&2
  usage >&2
  exit 2
fi
cn="$1" dns="${2:-}" ips="${3:-}"
for f in "$ca" "$cakey"; do [[ -r "$f" ]] || { echo "sign_server_cert.sh: cannot read $f" >&2; exit 1; }; done
[[ "$cn" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "sign_server_cert.sh: COMMON_NAME '$cn' may only hold letters, digits, '.', '_' and '-'" >&2; exit 2; }
bits="${SERVER_KEY_SIZE:-2048}"
days="${SERVER_VALIDITY_DAYS:-825}"
command -v openssl >/dev/null 2>&1 || { echo "sign_server_cert.sh: the openssl command is required" >&2; exit 1; }

name="${cn%%.*}"
crt="$out/$name.pem.crt"
key="$out/${name}_key.pem"
mkdir -p "$out"
if [[ $force -eq 0 && ( -e "$crt" || -e "$key" ) ]]; then
  echo "sign_server_cert.sh: $crt or $key exists; use -f to replace" >&2
  exit 1
fi

san="DNS:$cn"
IFS=',' read -r -a list <<<"$dns"
for d in "${list[@]}"; do [[ -n "$d" && "$d" != "$cn" ]] && san="$san,DNS:$d"; done
IFS=',' read -r -a list <<<"$ips"
for i in "${list[@]}"; do [[ -n "$i" ]] && san="$san,IP:$i"; done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
umask 077
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=critical,CA:FALSE\n' "$san" >"$work/ext"
openssl req -newkey "rsa:$bits" -nodes -keyout "$work/key" -out "$work/csr" -subj "/CN=$cn" 2>/dev/null
if ! openssl x509 -req -in "$work/csr" -CA "$ca" -CAkey "$cakey" -CAcreateserial -CAserial "$work/serial" \
  -out "$work/crt" -days "$days" -sha256 -extfile "$work/ext" 2>"$work/err"; then
  echo "sign_server_cert.sh: openssl could not sign: $(head -1 "$work/err")" >&2
  exit 1
fi
mv "$work/key" "$key"
chmod 600 "$key"
mv "$work/crt" "$crt"
chmod 644 "$crt"
echo "certificate: $crt ($san)"
echo "private key: $key (mode 0600)"
