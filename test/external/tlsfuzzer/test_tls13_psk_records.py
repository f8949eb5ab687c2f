"""Record-layer cases tlsfuzzer has no certificate-free script for, written
with tlsfuzzer's own building blocks for a TLS 1.3 server that speaks only
an external SHA-384 PSK (TLS_AES_256_GCM_SHA384, no certificates):
zero-length handshake records (RFC 8446 section 5.1) in the clear and
encrypted, and ClientHellos at and over 2^14 bytes.

Usage (tlsfuzzer and tlslite-ng on PYTHONPATH):
    python3 test_tls13_psk_records.py -h HOST -p PORT \
        --psk-file FILE --psk-iden IDENTITY [case name ...]

Prints one line per case and a summary in tlsfuzzer's format; for a case
that expects any fatal alert, the line says which alert came.
"""

from __future__ import print_function

import getopt
import sys
import traceback

from tlsfuzzer.expect import ExpectAlert, ExpectApplicationData, \
    ExpectChangeCipherSpec, ExpectClose, ExpectEncryptedExtensions, \
    ExpectFinished, ExpectNewSessionTicket, ExpectServerHello, \
    gen_srv_ext_handler_psk, srv_ext_handler_key_share, \
    srv_ext_handler_supp_vers
from tlsfuzzer.helpers import key_share_gen, psk_ext_gen, psk_ext_updater
from tlsfuzzer.messages import AlertGenerator, ApplicationDataGenerator, \
    ClientHelloGenerator, Connect, FinishedGenerator, RawMessageGenerator
from tlsfuzzer.runner import Runner
from tlslite.constants import AlertDescription, AlertLevel, CipherSuite, \
    ContentType, ExtensionType, GroupName, PskKeyExchangeMode
from tlslite.extensions import ClientKeyShareExtension, \
    PskKeyExchangeModesExtension, SupportedGroupsExtension, \
    SupportedVersionsExtension, TLSExtension

MAX_HANDSHAKE_BODY = 2 ** 14


class ReportAlert(ExpectAlert):
    """Any fatal alert; remembers its description for the case line."""

    seen = []

    def process(self, state, msg):
        ReportAlert.seen.append(AlertDescription.toStr(msg.write()[1]))
        super(ReportAlert, self).process(state, msg)


class HiddenUpdater(object):
    """psk_ext_updater whose repr (printed by tlsfuzzer on an error) leaves
    the secret out."""

    def __init__(self, settings):
        self._update = psk_ext_updater(settings)
        self._identity = settings[0][0]

    def __call__(self, state, hello):
        self._update(state, hello)

    def __repr__(self):
        return "psk_ext_updater(identity={0!r}, secret hidden)".format(
            bytes(self._identity))


def _read_psk(file_name, identity):
    with open(file_name) as handle:
        for line in handle:
            name, _, secret = line.strip().partition(":")
            if name == identity and not line.startswith("#"):
                return bytearray.fromhex(secret)
    sys.exit("identity {0!r} not found in {1}".format(identity, file_name))


def _pad_to(body_len):
    """Modifier: size the padding extension so the ClientHello body has
    body_len bytes."""
    def modifier(state, hello):
        del state
        pad = next(e for e in hello.extensions
                   if e.extType == ExtensionType.client_hello_padding)
        current = len(hello.write()) - 4
        pad.create(bytearray(len(pad.extData) + body_len - current))
    return modifier


def _hello(settings, body_len=None):
    ext = {}
    groups = [GroupName.x25519]
    ext[ExtensionType.key_share] = ClientKeyShareExtension().create(
        [key_share_gen(g) for g in groups])
    ext[ExtensionType.supported_versions] = \
        SupportedVersionsExtension().create([(3, 4)])
    ext[ExtensionType.supported_groups] = \
        SupportedGroupsExtension().create(groups)
    mods = []
    if body_len is not None:
        ext[ExtensionType.client_hello_padding] = \
            TLSExtension(extType=ExtensionType.client_hello_padding)\
            .create(bytearray(0))
        mods.append(_pad_to(body_len))
    ext[ExtensionType.psk_key_exchange_modes] = \
        PskKeyExchangeModesExtension().create([PskKeyExchangeMode.psk_dhe_ke])
    ext[ExtensionType.pre_shared_key] = psk_ext_gen(settings)
    mods.append(HiddenUpdater(settings))
    return ClientHelloGenerator([CipherSuite.TLS_AES_256_GCM_SHA384],
                                extensions=ext, modifiers=mods)


def _server_flight(node, settings):
    ext = {ExtensionType.supported_versions: srv_ext_handler_supp_vers,
           ExtensionType.key_share: srv_ext_handler_key_share,
           ExtensionType.pre_shared_key: gen_srv_ext_handler_psk(settings)}
    node = node.add_child(ExpectServerHello(extensions=ext))
    node = node.add_child(ExpectChangeCipherSpec())
    node = node.add_child(ExpectEncryptedExtensions())
    return node.add_child(ExpectFinished())


def _http_and_close(node):
    node = node.add_child(ApplicationDataGenerator(
        bytearray(b"GET /capabilities HTTP/1.0\r\n\r\n")))
    cycle = ExpectNewSessionTicket()
    node = node.add_child(cycle)
    node.add_child(cycle)
    node.next_sibling = ExpectApplicationData()
    node = node.next_sibling.add_child(
        AlertGenerator(AlertLevel.warning, AlertDescription.close_notify))
    node = node.add_child(ExpectAlert())
    node.next_sibling = ExpectClose()


def _expect_fatal(node, description):
    alert = ReportAlert(AlertLevel.fatal, description)
    node = node.add_child(alert)
    node.add_child(ExpectClose())


def _empty(content_type):
    return RawMessageGenerator(content_type, bytearray(0))


def conversations(host, port, settings):
    unexpected = AlertDescription.unexpected_message
    cases = {}

    conv = Connect(host, port)
    _http_and_close(_server_flight(conv.add_child(_hello(settings)),
                                   settings).add_child(FinishedGenerator()))
    cases["sanity"] = conv

    conv = Connect(host, port)
    node = conv.add_child(_empty(ContentType.handshake))
    _expect_fatal(node.add_child(_hello(settings)), unexpected)
    cases["zero-length handshake record before ClientHello"] = conv

    conv = Connect(host, port)
    node = conv
    for _ in range(8):
        node = node.add_child(_empty(ContentType.handshake))
    _expect_fatal(node, unexpected)
    cases["only zero-length handshake records"] = conv

    conv = Connect(host, port)
    node = _server_flight(conv.add_child(_hello(settings)), settings)
    _expect_fatal(node.add_child(_empty(ContentType.handshake)), unexpected)
    cases["encrypted zero-length handshake record before client Finished"] \
        = conv

    conv = Connect(host, port)
    node = _server_flight(conv.add_child(_hello(settings)), settings)
    node = node.add_child(FinishedGenerator())
    _expect_fatal(node.add_child(_empty(ContentType.handshake)), unexpected)
    cases["encrypted zero-length handshake record after handshake"] = conv

    conv = Connect(host, port)
    node = _server_flight(
        conv.add_child(_hello(settings, MAX_HANDSHAKE_BODY)), settings)
    _http_and_close(node.add_child(FinishedGenerator()))
    cases["ClientHello of 2^14 bytes (two records)"] = conv

    # Too big is not a version problem: any fatal alert but protocol_version.
    not_version = tuple(d for d in range(256)
                        if d != AlertDescription.protocol_version)
    for size in (MAX_HANDSHAKE_BODY + 1, 2 ** 16 - 1):
        conv = Connect(host, port)
        _expect_fatal(conv.add_child(_hello(settings, size)), not_version)
        cases["ClientHello of {0} bytes refused".format(size)] = conv

    return cases


def main():
    host, port, psk_file, identity = "localhost", 4433, None, None
    opts, names = getopt.getopt(sys.argv[1:], "h:p:",
                                ["psk-file=", "psk-iden="])
    for opt, arg in opts:
        if opt == "-h":
            host = arg
        elif opt == "-p":
            port = int(arg)
        elif opt == "--psk-file":
            psk_file = arg
        elif opt == "--psk-iden":
            identity = arg
    if not psk_file or not identity:
        sys.exit(__doc__)
    settings = [(bytearray(identity.encode("ascii")),
                 _read_psk(psk_file, identity), "sha384")]
    cases = conversations(host, port, settings)
    chosen = names or list(cases)
    failed = []
    for name in chosen:
        ReportAlert.seen = []
        try:
            Runner(cases[name]).run()
            got = " (alert: {0})".format(ReportAlert.seen[0]) \
                if ReportAlert.seen else ""
            print("{0} ... OK{1}".format(name, got))
        except Exception:  # pylint: disable=broad-except
            failed.append(name)
            print("{0} ... FAIL\n{1}".format(name, traceback.format_exc()))
    print("TOTAL: {0}\nPASS: {1}\nFAIL: {2}".format(
        len(chosen), len(chosen) - len(failed), len(failed)))
    if failed:
        print("FAILED:\n\t" + "\n\t".join(repr(n) for n in failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
