"""Dask over TLS: a real scheduler on 127.0.0.1 that speaks only tls://, with certificates
made here (a throwaway CA and one certificate for 127.0.0.1 it signed).

``portfolio-opt sweep --dask tls://...`` runs as a subprocess, as a user would run it.
Every cluster here listens on the loopback interface only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"

BATCH = f"""\
base: {TUTORIAL}
method: oat
parameters:
  - path: market.hashprice_usd_per_ph_day
    scale: [0.6, 1.4]
    levels: 3
"""  # the base scenario and 3 levels: 4 scenarios


def _make_ca(name: str) -> tuple[object, object]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _pem(obj: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(obj, "private_bytes"):
        return obj.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return obj.public_bytes(serialization.Encoding.PEM)


def write_certificates(folder: Path, ca_name: str = "portfolio-opt test CA") -> dict[str, Path]:
    """ca.pem, and cert.pem/key.pem for 127.0.0.1 signed by it (server and client use)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _make_ca(ca_name)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    paths["ca"].write_bytes(_pem(ca_cert))
    paths["cert"].write_bytes(_pem(cert))
    paths["key"].write_bytes(_pem(key))
    return paths


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_scheduler(certs: dict[str, Path]) -> Iterator[str]:
    """A scheduler and one worker on 127.0.0.1 that accept only mutual TLS."""
    from dask.distributed import LocalCluster
    from distributed.security import Security

    ca, cert, key = (str(certs[k]) for k in ("ca", "cert", "key"))
    security = Security(tls_ca_file=ca, tls_scheduler_cert=cert, tls_scheduler_key=key,
                        tls_worker_cert=cert, tls_worker_key=key, tls_client_cert=cert,
                        tls_client_key=key, require_encryption=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      protocol="tls://", security=security, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def sweep(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A short connect timeout so that a refused handshake is reported in seconds, not 30.
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"}
    return subprocess.run([sys.executable, "-m", "portfolio_opt.cli", "sweep",
                           *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def test_the_scheduler_speaks_tls_on_loopback_only(tls_scheduler):
    url = urlparse(tls_scheduler)
    assert url.scheme == "tls" and url.hostname == "127.0.0.1"


@pytest.mark.slow
def test_sweep_over_tls_gives_the_rows_of_the_process_pool(tmp_path, certs, tls_scheduler):
    from portfolio_opt.batch.api import run_batch

    batch = tmp_path / "oat.yaml"
    batch.write_text(BATCH, encoding="utf-8")
    proc = sweep(batch, "--out", "tls", "--dask", tls_scheduler, "--quiet",
                 "--dask-tls-ca-file", certs["ca"], "--dask-tls-cert", certs["cert"],
                 "--dask-tls-key", certs["key"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "4/4 scenarios stored (4 optimal)" in proc.stdout
    assert f"dask:{tls_scheduler} worker(s)" in proc.stdout
    over_tls = pd.read_parquet(tmp_path / "tls" / "results.parquet")
    local = run_batch(batch, tmp_path / "local", workers=1).results
    keys = ["scenario", "market.hashprice_usd_per_ph_day", "status"]
    pd.testing.assert_frame_equal(over_tls[keys], local[keys])
    npv_a, npv_b = over_tls["objective_npv_usd"], local["objective_npv_usd"]
    assert ((npv_a - npv_b).abs() <= 1e-6 * npv_a.abs() + 1).all()


def test_tls_without_certificates_is_an_input_error(tmp_path, tls_scheduler):
    batch = tmp_path / "oat.yaml"
    batch.write_text(BATCH, encoding="utf-8")
    proc = sweep(batch, "--out", "out", "--dask", tls_scheduler, "--quiet", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "a tls:// scheduler needs certificates: pass --dask-tls-ca-file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_tls_options_need_a_tls_address_and_existing_files(tmp_path, certs):
    batch = tmp_path / "oat.yaml"
    batch.write_text(BATCH, encoding="utf-8")
    proc = sweep(batch, "--out", "out", "--dask", "tcp://127.0.0.1:8786", "--dask-tls-ca-file",
                 certs["ca"], "--dask-tls-cert", tmp_path / "missing.pem", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "apply to a tls://HOST:PORT scheduler" in proc.stderr
    assert "--dask-tls-cert: option, field 'dask-tls-cert': got " in proc.stderr
    assert "expected an existing PEM file" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", ["plaintext", "another CA"])
def test_the_scheduler_refuses_a_client_it_cannot_verify(tmp_path, certs, tls_scheduler, how):
    """Plain tcp:// to a TLS port, or a certificate from another CA, does not get in."""
    batch = tmp_path / "oat.yaml"
    batch.write_text(BATCH, encoding="utf-8")
    if how == "plaintext":
        args = ["--dask", tls_scheduler.replace("tls://", "tcp://")]
    else:
        other = write_certificates(tmp_path / "other", "another CA")
        args = ["--dask", tls_scheduler, "--dask-tls-ca-file", other["ca"],
                "--dask-tls-cert", other["cert"], "--dask-tls-key", other["key"]]
    proc = sweep(batch, "--out", "out", "--quiet", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "expected a reachable Dask scheduler; connecting failed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dask_local_listens_on_loopback_only():
    """Every port the LocalCluster opens (scheduler, dashboard, workers, nannies) is bound
    to 127.0.0.1: read from the operating system's socket table, not from Dask."""
    import psutil

    from portfolio_opt.batch.dask_runner import _client

    client, cluster = _client("local", 1)
    try:
        me = psutil.Process()
        listening = [c.laddr for p in (me, *me.children(recursive=True))
                     for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        addresses = [cluster.scheduler_address, *cluster.scheduler_info["workers"]]
    finally:
        client.close()
        cluster.close()
    assert len(addresses) == 2 and {urlparse(a).hostname for a in addresses} == {"127.0.0.1"}
    assert len(listening) >= 3  # scheduler, worker, nanny at least
    assert {a.ip for a in listening} == {"127.0.0.1"}
