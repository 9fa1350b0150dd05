"""In-cluster auth: the real ``kubernetes.aio`` loader against the local API server over TLS.

A self-signed CA (made with ``openssl``) signs the server's certificate for 127.0.0.1; a
temporary service-account folder holds the token, ``ca.crt`` and ``namespace``; the API
address comes from an explicit environment, never from ``os.environ``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from daemon.config import KubernetesConfig
from daemon.sources.base import SourceStatus
from daemon.sources.kube import ClusterAccess, KubernetesSource
from tests.daemon.servers import free_port

from ..conftest import require_or_skip
from . import kube_api as k
from .test_kubernetes_source import Running, _listed


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=d)


@dataclass
class TlsApi:
    fake: k.FakeKubeAPI
    port: int
    ca: Path
    other_ca: Path

    def service_account(self, d: Path, token: str, *, ca: Path | None = None, namespace: str | None = "shop") -> Path:
        d.mkdir(parents=True, exist_ok=True)
        (d / "token").write_text(token)
        shutil.copy(ca or self.ca, d / "ca.crt")
        if namespace is not None:
            (d / "namespace").write_text(namespace)
        return d

    @property
    def environ(self) -> dict[str, str]:
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port)}


@pytest.fixture
async def tls_api(tmp_path: Path) -> AsyncIterator[TlsApi]:
    require_or_skip(shutil.which("openssl") is not None, "openssl not installed (Debian package openssl)")
    pki = tmp_path / "pki"
    pki.mkdir()
    _ca(pki, "cluster-ca")
    _ca(pki, "other-ca")
    (pki / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\n"
                                 "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                                 "keyUsage=critical,digitalSignature,keyEncipherment\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=kube-apiserver", cwd=pki)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "cluster-ca.crt", "-CAkey", "cluster-ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.cnf", cwd=pki)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    fake = k.FakeKubeAPI("token-one")
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    try:
        yield TlsApi(fake, port, pki / "cluster-ca.crt", pki / "other-ca.crt")
    finally:
        await fake.drop_watches()
        await runner.cleanup()


def _source(api: TlsApi, sa: Path, **cfg: object) -> tuple[KubernetesSource, SourceStatus]:
    conf = KubernetesConfig.model_validate({"in_cluster": True, "watch": ["deployments"], "watch_timeout": 5,
                                            **cfg})
    status = SourceStatus("kubernetes")
    return KubernetesSource(conf, status, checkpoint_every=0.2,
                            access=ClusterAccess(service_account_dir=sa, environ=api.environ)), status


async def test_token_tls_and_the_service_account_namespace(tls_api: TlsApi, tmp_path: Path) -> None:
    assert "KUBERNETES_SERVICE_HOST" not in os.environ or os.environ["KUBERNETES_SERVICE_PORT"] != str(tls_api.port)
    fake = tls_api.fake
    for ns in ("shop", "kube-system"):
        await fake.put("deployments", k.deployment("api", ns, "registry.example/api:1", 1))
    sa = tls_api.service_account(tmp_path / "sa", "token-one", namespace="shop\n")
    src, status = _source(tls_api, sa, own_namespace=True)
    run = Running(src)
    await _listed(fake)
    # the namespace from the file, since the config names none: namespaced list and watch only
    assert {path for path, _ in fake.requests} == {"/apis/apps/v1/namespaces/shop/deployments"}
    assert src.namespace == "shop"
    for ns in ("kube-system", "shop"):
        await fake.put("deployments", k.deployment("api", ns, "registry.example/api:2", 2, generation=2))
    await run.until(lambda cs: len(cs) >= 1)
    await asyncio.sleep(0.3)
    assert [c.namespace for c in run.changes] == ["shop"]  # the token was accepted (the fake checks it)
    assert status.last_error is None
    await run.stop()


async def test_without_own_namespace_the_whole_cluster_is_watched(tls_api: TlsApi, tmp_path: Path) -> None:
    sa = tls_api.service_account(tmp_path / "sa", "token-one")
    src, _ = _source(tls_api, sa)
    run = Running(src)
    await _listed(tls_api.fake)
    assert tls_api.fake.requests[0][0] == "/apis/apps/v1/deployments"
    await run.stop()


async def test_a_wrong_ca_is_refused_with_a_clear_error(tls_api: TlsApi, tmp_path: Path) -> None:
    sa = tls_api.service_account(tmp_path / "sa", "token-one", ca=tls_api.other_ca)
    src, status = _source(tls_api, sa, namespaces=["shop"])
    run = Running(src)
    for _ in range(200):
        if status.last_error:
            break
        await asyncio.sleep(0.02)
    assert status.last_error is not None and "CERTIFICATE_VERIFY_FAILED" in status.last_error, status.last_error
    assert tls_api.fake.requests == []  # nothing was sent to a server the CA does not vouch for
    await run.stop()


async def test_a_rotated_token_is_picked_up(tls_api: TlsApi, tmp_path: Path) -> None:
    fake = tls_api.fake
    await fake.put("deployments", k.deployment("api", "shop", "registry.example/api:1", 1))
    sa = tls_api.service_account(tmp_path / "sa", "token-one")
    src, status = _source(tls_api, sa, namespaces=["shop"])
    run = Running(src)
    await _listed(fake)
    # kubelet rotates the projected token: the new file replaces the old one atomically, and the
    # API server stops accepting the old token
    (sa / "token.new").write_text("token-two")
    os.replace(sa / "token.new", sa / "token")
    fake.token = "token-two"
    fake.requests.clear()
    await fake.drop_watches()  # the next watch request must carry the new token
    await _listed(fake)
    await fake.put("deployments", k.deployment("api", "shop", "registry.example/api:2", 2, generation=2))
    await run.until(lambda cs: len(cs) >= 1)
    assert status.last_error is None  # never a 401: the first request after rotation had the new token
    await run.stop()


async def test_missing_service_host_or_namespace_say_what_is_missing(tls_api: TlsApi, tmp_path: Path) -> None:
    from kubernetes.aio.config.config_exception import ConfigException
    sa = tls_api.service_account(tmp_path / "sa", "token-one", namespace=None)
    conf = KubernetesConfig.model_validate({"in_cluster": True, "watch": ["deployments"]})
    src = KubernetesSource(conf, SourceStatus("kubernetes"), access=ClusterAccess(sa, environ={}))
    with pytest.raises(ConfigException, match="host/port"):
        await anext(src.events())
    src, _ = _source(tls_api, sa, own_namespace=True)
    with pytest.raises(ValueError, match="kubernetes.own_namespace"):
        await anext(src.events())
