"""TLS for the demo SIP2 server: a server context and a self-signed certificate for tests.

The certificate is made with the `cryptography` package when it is installed and
with the `openssl` command otherwise; `CertificateError` says plainly when neither
is there.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

CERT_NAME = "demo-ils-cert.pem"
KEY_NAME = "demo-ils-key.pem"
VALID_DAYS = 825  # the longest validity clients (Apple, browsers) still accept


class CertificateError(Exception):
    """A certificate or key cannot be made or loaded. `str()` is one plain sentence."""


def make_server_ssl_context(
    certfile: Path, keyfile: Path | None = None, *, require_client_cert: Path | None = None
) -> ssl.SSLContext:
    """A TLS 1.2+ server context; with `require_client_cert` (a CA file) clients need a cert."""
    for path in (certfile, keyfile, require_client_cert):
        if path is not None and not Path(path).is_file():
            raise CertificateError(f"TLS file not found: {path}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as exc:
        what = f"{certfile} and {keyfile}" if keyfile else str(certfile)
        raise CertificateError(
            f"cannot use {what} as a PEM certificate with its private key "
            f"({getattr(exc, 'reason', None) or exc})"
        ) from None
    if require_client_cert is not None:
        try:
            context.load_verify_locations(cafile=require_client_cert)
        except (ssl.SSLError, OSError) as exc:
            raise CertificateError(
                f"cannot use {require_client_cert} to check client certificates: {exc}"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _alt_names(host: str) -> list[str]:
    """subjectAltName entries: the host, this machine's name and the loopback names."""
    names = [host, socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    out: list[str] = []
    for name in dict.fromkeys(n for n in names if n):
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            out.append(f"DNS:{name}")
        else:
            if not address.is_unspecified:  # 0.0.0.0 is where it listens, not a name to check
                out.append(f"IP:{address}")
    return out


def can_make_certificates() -> bool:
    """True when `make_self_signed_certificate` has a way to work here."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return shutil.which("openssl") is not None
    return True


def make_self_signed_certificate(dir: Path, host: str = "localhost") -> tuple[Path, Path]:
    """Writes a new self-signed certificate for `host` (and loopback) and its key into `dir`.

    Returns (certificate, key). The key file is readable by its owner only. A client
    trusts the server by loading the certificate file as its CA.
    """
    dir.mkdir(parents=True, exist_ok=True)
    cert, key = dir / CERT_NAME, dir / KEY_NAME
    key.unlink(missing_ok=True)  # created afresh, so it gets owner-only permissions
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _with_openssl(cert, key, host)
    else:
        _with_cryptography(cert, key, host)
    return cert, key


def _with_openssl(cert: Path, key: Path, host: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificateError(
            "cannot make a certificate: neither the cryptography package nor the openssl "
            "command is installed"
        )
    command = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        str(VALID_DAYS),
        "-subj",
        f"/CN={host}",
        "-addext",
        "subjectAltName=" + ",".join(_alt_names(host)),
    ]
    old_umask = os.umask(0o077)  # the key is never readable by others, not even briefly
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CertificateError(f"openssl failed to make a certificate: {exc}") from None
    finally:
        os.umask(old_umask)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CertificateError(f"openssl failed to make a certificate: {last}")
    cert.chmod(0o644)


def _with_cryptography(cert: Path, key: Path, host: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    alt: list[x509.GeneralName] = []
    for entry in _alt_names(host):
        kind, value = entry.split(":", 1)
        if kind == "IP":
            alt.append(x509.IPAddress(ipaddress.ip_address(value)))
        else:
            alt.append(x509.DNSName(value))
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    key_bytes = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
