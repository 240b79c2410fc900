"""The Azure emulator's TLS is made with cryptography alone: no trustme, no system trust store."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import pytest
import requests

from portsync.providers.azure.emulator import AzureEmulator


def test_emulator_serves_https_that_only_its_own_ca_bundle_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "trustme", None)  # importing it would fail
    with AzureEmulator(ca_out=tmp_path / "ca.pem") as emulator:
        bundle = Path(emulator.ca_bundle_path)
        assert bundle.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        url = (
            f"{emulator.base_url}/subscriptions/s/providers/Microsoft.Network/networkSecurityGroups"
        )
        answer = requests.get(
            url, params={"api-version": "2024-05-01"}, verify=str(bundle), timeout=60
        )
        assert answer.status_code < 500
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url, verify=True, timeout=60)  # the system store does not know the CA
        context = ssl.create_default_context(cafile=str(bundle))
        assert context.cert_store_stats()["x509_ca"] == 1
