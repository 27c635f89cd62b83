"""TLS servers' files: throw-away certificates made with ``openssl``, and ``TLSFiles``.

One test CA signs a server certificate (for 127.0.0.1 and localhost), a
client certificate, and a server certificate for a name that is not
127.0.0.1 (to show the hostname check at work).  A second, unrelated CA
plays the wrong CA.  EC P-256 keys keep it to a few milliseconds each.

The extensions are spelled out (basic constraints, key usage, key
identifiers) so that strict verifiers, such as Python 3.13's default
context, accept the chain too.

``TLSFiles`` is what ``RedisServer(tls=...)`` takes: a certificate, its key
and the CA, given to redis-server and used by its readiness check::

    certs = make_certs(directory)
    with RedisServer(tls=certs.server_files()) as server:
        server.url        # rediss://127.0.0.1:<port>/0
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .servers import find_redis_server

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

_CA_EXT = """\
[req]
distinguished_name = dn
prompt = no
[dn]
[v3]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_LEAF_EXT = """\
[v3]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = {usage}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
{san}
"""


@dataclass(frozen=True)
class TLSFiles:
    """A TLS server's certificate, key and CA, and whether clients must show a certificate.

    With ``auth_clients`` the readiness check needs a client pair signed by
    ``ca`` (``client_cert``, ``client_key``) to get past the handshake.
    """

    cert: str
    key: str
    ca: str
    auth_clients: bool = False
    client_cert: Optional[str] = None
    client_key: Optional[str] = None

    def args(self, port: int) -> List[str]:
        """redis-server arguments: TLS on ``port``, and no plain-text port."""
        return [
            "--port", "0",
            "--tls-port", str(port),
            "--tls-cert-file", self.cert,
            "--tls-key-file", self.key,
            "--tls-ca-cert-file", self.ca,
            "--tls-auth-clients", "yes" if self.auth_clients else "no",
        ]

    def context(self) -> ssl.SSLContext:
        """Trusts ``ca`` but not the name: the readiness check only asks "is it up?"."""
        context = ssl.create_default_context(cafile=self.ca)
        context.check_hostname = False
        if self.client_cert:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


@dataclass(frozen=True)
class Certs:
    """Paths of the files ``make_certs`` wrote."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    wrong_ca: str
    elsewhere_cert: str  # signed by ``ca``, names only elsewhere.invalid
    elsewhere_key: str

    def server_files(self, auth_clients: bool = False, elsewhere: bool = False) -> TLSFiles:
        """What ``RedisServer(tls=...)`` needs: the client pair too when clients must show one."""
        cert, key = (self.elsewhere_cert, self.elsewhere_key) if elsewhere else (self.server_cert, self.server_key)
        return TLSFiles(cert=cert, key=key, ca=self.ca, auth_clients=auth_clients,
                        client_cert=self.client_cert if auth_clients else None,
                        client_key=self.client_key if auth_clients else None)

    def client_kwargs(self) -> Dict[str, Any]:
        """Keywords for a verifying redis-py client (``ssl_*``), used to look inside the server."""
        return {"ssl_ca_certs": self.ca, "ssl_certfile": self.client_cert, "ssl_keyfile": self.client_key}


def _run(*args: str) -> None:
    subprocess.run([OPENSSL, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _ca(directory: str, name: str) -> str:
    conf = os.path.join(directory, f"{name}.cnf")
    with open(conf, "w") as f:
        f.write(_CA_EXT)
    cert = os.path.join(directory, f"{name}.crt")
    _run("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", os.path.join(directory, f"{name}.key"), "-out", cert, "-days", "2",
         "-subj", f"/CN=pyramid_session_redis {name}", "-config", conf, "-extensions", "v3")
    return cert


def _leaf(directory: str, name: str, ca: str, usage: str, san: Optional[str]) -> None:
    key = os.path.join(directory, f"{name}.key")
    csr = os.path.join(directory, f"{name}.csr")
    ext = os.path.join(directory, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(_LEAF_EXT.format(usage=usage, san=f"subjectAltName = {san}" if san else ""))
    _run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    _run("x509", "-req", "-in", csr, "-CA", os.path.join(directory, f"{ca}.crt"),
         "-CAkey", os.path.join(directory, f"{ca}.key"), "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
         "-days", "2", "-out", os.path.join(directory, f"{name}.crt"), "-extfile", ext, "-extensions", "v3")


def make_certs(directory: str) -> Certs:
    """Write the CAs, keys and certificates into ``directory``."""
    ca = _ca(directory, "ca")
    wrong_ca = _ca(directory, "wrong-ca")
    _leaf(directory, "server", "ca", "serverAuth", "IP:127.0.0.1, DNS:localhost")
    _leaf(directory, "client", "ca", "clientAuth", None)
    _leaf(directory, "elsewhere", "ca", "serverAuth", "DNS:elsewhere.invalid")

    def path(name: str) -> str:
        return os.path.join(directory, name)

    return Certs(ca=ca, server_cert=path("server.crt"), server_key=path("server.key"),
                 client_cert=path("client.crt"), client_key=path("client.key"), wrong_ca=wrong_ca,
                 elsewhere_cert=path("elsewhere.crt"), elsewhere_key=path("elsewhere.key"))


def missing_tls_support() -> Optional[str]:
    """Why the TLS tests cannot run here, or None when they can.

    A redis-server built without TLS has no OpenSSL in it; looking for an
    OpenSSL symbol in the binary tells without starting anything.
    """
    if not os.path.exists(OPENSSL):
        return "the openssl command is needed to make test certificates"
    binary = find_redis_server()
    if not binary:
        return "no redis-server found"
    with open(binary, "rb") as f:
        if b"SSL_CTX_new" not in f.read():
            return f"{binary} is built without TLS support (BUILD_TLS=yes)"
    return None
