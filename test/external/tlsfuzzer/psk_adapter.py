"""Run a tlsfuzzer script against a TLS 1.3 server that speaks only an
external SHA-384 PSK (TLS_AES_256_GCM_SHA384, no certificates).

Usage:
    python3 psk_adapter.py --psk-file FILE --psk-iden IDENTITY \
        [--psk-modes dhe|ke|dhe,ke] -- SCRIPT [SCRIPT ARGS...]

FILE holds "identity:hex" lines (lines starting with # are ignored), the
format of a skip-server psk.txt; the PSK itself is never printed.

What the adapter changes, and nothing else:
- every TLS 1.3 ClientHello (one whose supported_versions offers TLS 1.3)
  that carries no pre_shared_key gets psk_key_exchange_modes (psk_dhe_ke by
  default, so the key exchange stays (EC)DHE as in the certificate scripts)
  and, as its last extension, a pre_shared_key with the external identity
  whose 48-byte binder is computed after any modifier the script set;
- TLS_AES_128_GCM_SHA256 becomes TLS_AES_256_GCM_SHA384 in a ClientHello
  that offers no SHA-384 suite, and in what a ServerHello is expected to
  pick, since a SHA-384 PSK can only be used with a SHA-384 suite;
- an expected TLS 1.3 ServerHello also accepts the server's pre_shared_key
  extension and takes the PSK into the key schedule;
- an expected Certificate (and the CertificateVerify after it) that follows
  EncryptedExtensions is dropped from the expected flight, because a PSK
  handshake has neither.
ClientHellos that already carry a PSK (the tlsfuzzer PSK scripts) are left
as they are.
"""

from __future__ import print_function

import getopt
import runpy
import sys
from collections import OrderedDict
from os import path


def _usage():
    print(__doc__)
    sys.exit(2)


def _read_psk(file_name, identity):
    with open(file_name) as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, secret = line.partition(":")
            if name == identity:
                return bytearray.fromhex(secret)
    sys.exit("psk_adapter: identity {0!r} not found in {1}"
             .format(identity, file_name))


def _parse_args(argv):
    try:
        split = argv.index("--")
    except ValueError:
        _usage()
    opts, _ = getopt.getopt(argv[:split], "",
                            ["psk-file=", "psk-iden=", "psk-modes="])
    opts = dict(opts)
    if "--psk-file" not in opts or "--psk-iden" not in opts:
        _usage()
    script = argv[split + 1:]
    if not script:
        _usage()
    modes = opts.get("--psk-modes", "dhe").split(",")
    return opts["--psk-file"], opts["--psk-iden"], modes, script


class _Hidden(object):
    """A callable holding the PSK whose repr (tlsfuzzer prints the failing
    node) leaves the secret out."""

    def __init__(self, call, identity):
        self._call = call
        self._identity = identity

    def __call__(self, *args):
        return self._call(*args)

    def __repr__(self):
        return "external PSK {0!r} (secret hidden)".format(self._identity)


def install(identity, secret, modes):
    """Patch tlsfuzzer so its TLS 1.3 handshakes use the external PSK."""
    from tlslite.constants import CipherSuite, ExtensionType, \
        PskKeyExchangeMode
    from tlslite.extensions import PskKeyExchangeModesExtension
    from tlsfuzzer import expect, messages, runner
    from tlsfuzzer.helpers import psk_ext_gen, psk_ext_updater

    settings = [(bytearray(identity.encode("ascii")), secret, "sha384")]
    mode_ids = [{"dhe": PskKeyExchangeMode.psk_dhe_ke,
                 "ke": PskKeyExchangeMode.psk_ke}[m] for m in modes]
    aes128 = CipherSuite.TLS_AES_128_GCM_SHA256
    aes256 = CipherSuite.TLS_AES_256_GCM_SHA384
    srv_psk = _Hidden(expect.gen_srv_ext_handler_psk(settings), identity)
    updater = _Hidden(psk_ext_updater(settings), identity)
    expect._srv_ext_handler[ExtensionType.pre_shared_key] = srv_psk

    def offers_tls13(extensions):
        ext = extensions.get(ExtensionType.supported_versions)
        versions = getattr(ext, "versions", None) or []
        return any(v[0] == 3 and v[1] >= 4 or v[0] == 0x7f for v in versions)

    original_generate = messages.ClientHelloGenerator.generate

    def generate(self, state):
        if not getattr(self, "_psk_adapted", False):
            self._psk_adapted = True
            ext = self.extensions
            if ext is not None and offers_tls13(ext) and \
                    ExtensionType.pre_shared_key not in ext:
                ext = OrderedDict(ext)
                ext.setdefault(ExtensionType.psk_key_exchange_modes,
                               PskKeyExchangeModesExtension().create(
                                   mode_ids))
                ext[ExtensionType.pre_shared_key] = psk_ext_gen(settings)
                self.extensions = ext
                self.modifiers = list(self.modifiers or []) + [updater]
                if aes128 in self.ciphers and aes256 not in self.ciphers:
                    self.ciphers = [aes256 if c == aes128 else c
                                    for c in self.ciphers]
        return original_generate(self, state)

    messages.ClientHelloGenerator.generate = generate

    original_sh_process = expect.ExpectServerHello.process

    def sh_process(self, state, msg):
        if type(self) is expect.ExpectServerHello:
            if self.cipher == aes128:
                self.cipher = aes256
            elif isinstance(self.cipher, (list, set, tuple)) and \
                    aes128 in self.cipher:
                self.cipher = list(self.cipher) + [aes256]
            cln_hello = state.get_last_message_of_type(
                messages.ClientHello)
            if self.extensions and cln_hello is not None and \
                    cln_hello.getExtension(ExtensionType.pre_shared_key) and \
                    ExtensionType.pre_shared_key not in self.extensions:
                self.extensions = dict(self.extensions)
                self.extensions[ExtensionType.pre_shared_key] = srv_psk
        return original_sh_process(self, state, msg)

    expect.ExpectServerHello.process = sh_process

    certificate_types = (expect.ExpectCertificate,
                         expect.ExpectCertificateVerify)
    after_types = (expect.ExpectEncryptedExtensions,
                   expect.ExpectCertificateRequest)

    def skip_certificates(node):
        while isinstance(node, certificate_types):
            node = node.child
        return node

    def rewrite(conversation):
        seen = set()
        todo = [conversation]
        while todo:
            node = todo.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, after_types) and \
                    isinstance(node.child, expect.ExpectCertificate):
                node.child = skip_certificates(node.child)
            todo.append(node.child)
            todo.append(node.next_sibling)

    original_runner_init = runner.Runner.__init__

    def runner_init(self, conversation):
        rewrite(conversation)
        original_runner_init(self, conversation)

    runner.Runner.__init__ = runner_init


def main():
    psk_file, identity, modes, script = _parse_args(sys.argv[1:])
    install(identity, _read_psk(psk_file, identity), modes)
    sys.argv = script
    sys.path.insert(0, path.dirname(path.dirname(path.abspath(script[0]))))
    runpy.run_path(script[0], run_name="__main__")


if __name__ == "__main__":
    main()
