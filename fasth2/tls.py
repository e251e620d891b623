"""TLS: the server context, its options, client certificates, and re-reading them.

Strategy: one ``ssl.SSLContext`` per server, built from the settings (or by the user's
``ssl_context_factory``), always offering ALPN ``h2`` then ``http/1.1`` since that is
how a connection's protocol is chosen. The defaults follow RFC 9113 §9.2 (TLS 1.2 or
newer, no compression or renegotiation, ephemeral AEAD suites). A client certificate
(``cert_reqs`` optional or required, checked against ``ca_certs``) reaches the app as
Apache's mod_ssl names it: ``SSL_CLIENT_CERT`` (PEM), ``SSL_CLIENT_S_DN`` (the verified
subject, RFC 4514) and ``SSL_CLIENT_VERIFY``. Certificates are re-read into the same
context (``reload_certificates``, on SIGHUP): new handshakes use the new ones, and
connections already open keep theirs.
"""

from __future__ import annotations

import logging
import os
import ssl

from .config import Config
from .errors import StartupError

log = logging.getLogger("fasth2.error")

#: ``cert_reqs`` values, by name and by the number gunicorn takes (ssl.CERT_*).
CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
             "required": ssl.CERT_REQUIRED}
#: ``tls_min_version`` values.
TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
#: The cipher suites for TLS 1.2 (TLS 1.3 has its own, all AEAD): ephemeral key
#: exchange and AEAD only, as RFC 9113 §9.2.2 requires of HTTP/2.
DEFAULT_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
#: RFC 4514 short names of the attributes a subject usually has.
_SHORT_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
                "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST",
                "domainComponent": "DC", "userId": "UID", "streetAddress": "STREET"}


def make_ssl_context(config: Config) -> ssl.SSLContext:
    """The server's TLS context; StartupError when a file or option is unusable."""
    if config.ssl_context_factory is not None:
        context = config.ssl_context_factory(config)
        context.set_alpn_protocols(["h2", "http/1.1"])  # how fasth2 picks the protocol
        return context
    for label, path in (("certificate", config.certfile), ("key", config.keyfile),
                        ("CA certificates", config.ca_certs)):
        if path is not None and not os.path.isfile(path):
            raise StartupError(f"{label} file {path!r} not found")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[config.tls_min_version]
    # RFC 9113 §9.2: no compression, no renegotiation.
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.set_ciphers(config.ciphers or DEFAULT_CIPHERS)
    except ssl.SSLError:
        raise StartupError(f"no usable cipher in --ciphers {config.ciphers!r}") from None
    load_certificates(context, config)
    context.verify_mode = CERT_REQS[config.cert_reqs]
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def load_certificates(context: ssl.SSLContext, config: Config) -> None:
    """Load the certificate chain, its key and the client CAs into ``context``."""
    try:
        context.load_cert_chain(config.certfile, config.keyfile, password=config.keyfile_password)
    except ssl.SSLError as exc:
        raise StartupError(f"cannot load certificate {config.certfile!r} / key "
                           f"{config.keyfile!r}: {exc.reason or exc}") from None
    except OSError as exc:
        raise StartupError(f"cannot read certificate {config.certfile!r} / key "
                           f"{config.keyfile!r}: {exc.strerror}") from None
    if config.ca_certs is not None:
        try:
            context.load_verify_locations(cafile=config.ca_certs)
        except (ssl.SSLError, OSError) as exc:
            raise StartupError(f"cannot load CA certificates {config.ca_certs!r}: "
                               f"{getattr(exc, 'reason', None) or exc}") from None


def reload_certificates(context: ssl.SSLContext, config: Config) -> bool:
    """Re-read the certificate files into the live ``context`` (SIGHUP); True if done.

    New handshakes use the new certificate; open connections keep theirs. A file that
    cannot be read leaves the old certificate in use, and says why. (CA certificates
    are added to those loaded before: OpenSSL has no way to drop them.)
    """
    if config.certfile is None:
        log.info("TLS comes from ssl_context_factory: nothing to re-read")
        return False
    try:
        load_certificates(context, config)
    except StartupError as exc:
        log.error("Certificates not re-read, the old ones stay in use: %s", exc)
        return False
    log.info("Certificates re-read from %s", config.certfile)
    return True


def client_certificate_environ(ssl_object: ssl.SSLObject | None) -> dict:
    """``SSL_CLIENT_CERT``, ``SSL_CLIENT_S_DN`` and ``SSL_CLIENT_VERIFY`` of a connection
    whose client presented a certificate (verified, or the handshake would have
    failed); ``SSL_CLIENT_VERIFY: NONE`` if it presented none."""
    if ssl_object is None:
        return {}
    der = ssl_object.getpeercert(binary_form=True)
    if der is None:
        return {"SSL_CLIENT_VERIFY": "NONE"}
    subject = ssl_object.getpeercert().get("subject", ())
    return {"SSL_CLIENT_CERT": ssl.DER_cert_to_PEM_cert(der),
            "SSL_CLIENT_S_DN": distinguished_name(subject),
            "SSL_CLIENT_VERIFY": "SUCCESS"}


def distinguished_name(subject: tuple) -> str:
    """A subject as ``ssl.getpeercert()`` gives it, as an RFC 4514 string
    (``CN=alice,O=Example,C=GB``: the most specific part first)."""
    parts = []
    for rdn in reversed(subject):
        parts.append("+".join(f"{_SHORT_NAMES.get(name, name)}={_escape(value)}"
                              for name, value in rdn))
    return ",".join(parts)


def _escape(value: str) -> str:
    escaped = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if escaped[:1] in ("#", " "):
        escaped = "\\" + escaped
    if escaped.endswith(" ") and not escaped.endswith("\\ "):
        escaped = escaped[:-1] + "\\ "
    return escaped
