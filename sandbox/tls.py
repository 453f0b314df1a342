"""HTTPS for the sandbox: each TLS host on port 443 of its own loopback address, certificates from a test CA.

A real portal's ``DOMAIN`` carries no port, so each TLS server listens on 443. Linux routes
all of 127.0.0.0/8 to the loopback interface, so every server takes a random 127.x.y.z of its
own: parallel test runs never collide. The CA is any object shaped like ``trustme.CA`` (the
tests make one in-process); nothing here turns verification off, clients are told to trust it.
"""

from __future__ import annotations

import errno
import random
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from werkzeug.serving import ThreadedWSGIServer

HTTPS_PORT = 443
ADDRESS_TRIES = 50
# A client that connects but never finishes the handshake must not hold a thread for ever.
HANDSHAKE_TIMEOUT = 10.0


class LeafCert(Protocol):
    def configure_cert(self, ctx: ssl.SSLContext) -> None: ...

    @property
    def cert_chain_pems(self) -> list[Any]: ...

    @property
    def private_key_pem(self) -> Any: ...


class CertificateAuthority(Protocol):
    """What the sandbox needs of ``trustme.CA``."""

    @property
    def cert_pem(self) -> Any: ...

    def issue_cert(self, *identities: str) -> LeafCert: ...


class TLSWSGIServer(ThreadedWSGIServer):
    """werkzeug's threaded server with the TLS handshake in the request thread, not the accept loop.

    werkzeug wraps the listening socket, so ``accept()`` (one thread for the whole server)
    would run every handshake, and one silent client would stall all the others.
    """

    def __init__(self, listener: socket.socket, app: Any, handler: Any, context: ssl.SSLContext) -> None:
        host, port = listener.getsockname()[:2]
        super().__init__(host, port, app, handler, fd=listener.fileno())  # werkzeug takes a copy
        self.tls_context = context
        self.ssl_context = context  # tells werkzeug's handler the scheme is https

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            secured = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust the certificate, or left mid-handshake
        try:
            super().finish_request(secured, client_address)
        finally:
            self.shutdown_request(secured)


def random_loopback() -> str:
    """A random address in 127.0.0.0/8 other than the usual 127.0.0.1."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def server_context(ca: CertificateAuthority, *identities: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*identities).configure_cert(context)
    return context


def listen(address: str, port: int) -> socket.socket:
    """A listening socket; bound here rather than by werkzeug, which exits the process on failure."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not over a live listener
        listener.bind((address, port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    return listener


def make_tls_server(app: Any, handler: Any, ca: CertificateAuthority) -> TLSWSGIServer:
    """``app`` served over TLS on port 443 of a free random loopback address."""
    for _ in range(ADDRESS_TRIES):
        address = random_loopback()
        try:
            listener = listen(address, HTTPS_PORT)
        except PermissionError as exc:
            raise PermissionError(
                f"binding port {HTTPS_PORT} of {address} was refused: the HTTPS sandbox serves each host "
                "on port 443 (no port in DOMAIN, as on a real portal), which needs root, "
                "CAP_NET_BIND_SERVICE, or sysctl net.ipv4.ip_unprivileged_port_start=443"
            ) from exc
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        with listener:
            return TLSWSGIServer(listener, app, handler, server_context(ca, address))
    raise OSError(
        errno.EADDRINUSE, f"no free loopback address for port {HTTPS_PORT} in {ADDRESS_TRIES} tries"
    )


@dataclass(frozen=True)
class CertFiles:
    """A server certificate (with its chain) and key as PEM files, e.g. for gunicorn."""

    cert: Path
    key: Path

    @property
    def gunicorn_args(self) -> str:
        """For ``GUNICORN_CMD_ARGS``."""
        return f"--certfile={self.cert} --keyfile={self.key}"


def issue_cert_files(ca: CertificateAuthority, directory: Path, *identities: str) -> CertFiles:
    """A certificate for ``identities`` (host names, IPs) signed by ``ca``, written to ``directory``."""
    leaf = ca.issue_cert(*identities)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    return CertFiles(cert, key)


def nss_home(ca_pem: Path, home: Path, nickname: str = "sandbox test CA") -> Path:
    """A ``$HOME`` whose NSS database (``.pki/nssdb``) trusts ``ca_pem`` to issue server certificates.

    Chromium on Linux reads locally trusted authorities from there; ``certutil`` comes with
    the Debian package libnss3-tools.
    """
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True, exist_ok=True)
    target = f"sql:{database}"
    for command in (
        ["certutil", "-N", "-d", target, "--empty-password"],
        ["certutil", "-A", "-d", target, "-n", nickname, "-t", "C,,", "-i", str(ca_pem)],
    ):
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - fixed arguments
    return home
