#!/usr/bin/env bash
# Create the Certificate Authority that signs every SKIP Key Provider certificate (peer mTLS),
# with the reference Key Provider's interface: create_ca.sh OUTDIR -> OUTDIR/ca.pem, OUTDIR/ca.key
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: create_ca.sh [-f] OUTDIR

Writes OUTDIR/ca.pem (the CA certificate: give it to every Key Provider) and OUTDIR/ca.key
(its private key, mode 0600: keep it offline). Refuses to replace them unless -f.

Environment:
  CA_CN             Common Name of the CA (default: "My Lab CA")
  CA_KEY_SIZE       RSA key size in bits (default: 4096)
  CA_VALIDITY_DAYS  validity in days (default: 3650)
USAGE
}

force=0
while getopts ":fh" opt; do
  case "$opt" in
    f) force=1 ;;
    h) usage; exit 0 ;;
    *) echo "create_ca.sh: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -ne 1 ]]; then
  echo "create_ca.sh: give exactly one output directory" >&2
  usage >&2
  exit 2
fi
out="$1"
cn="${CA_CN:-My Lab CA}"
bits="${CA_KEY_SIZE:-4096}"
days="${CA_VALIDITY_DAYS:-3650}"
[[ "$bits" =~ ^[0-9]+$ && "$bits" -ge 2048 ]] || { echo "create_ca.sh: CA_KEY_SIZE must be a number >= 2048, not '$bits'" >&2; exit 2; }
[[ "$days" =~ ^[0-9]+$ && "$days" -ge 1 ]] || { echo "create_ca.sh: CA_VALIDITY_DAYS must be a whole number of days, not '$days'" >&2; exit 2; }
command -v openssl >/dev/null 2>&1 || { echo "create_ca.sh: the openssl command is required" >&2; exit 1; }

mkdir -p "$out"
if [[ $force -eq 0 && ( -e "$out/ca.pem" || -e "$out/ca.key" ) ]]; then
  echo "create_ca.sh: $out/ca.pem or $out/ca.key exists; use -f to replace" >&2
  exit 1
fi
umask 077
openssl req -x509 -newkey "rsa:$bits" -nodes -sha256 -days "$days" \
  -keyout "$out/ca.key" -out "$out/ca.pem" -subj "/CN=$cn" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
chmod 600 "$out/ca.key"
chmod 644 "$out/ca.pem"
echo "CA certificate: $out/ca.pem"
echo "CA private key: $out/ca.key (mode 0600; keep it offline)"
