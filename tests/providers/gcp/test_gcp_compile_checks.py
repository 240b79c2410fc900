"""GCP compile's checks of a firewall body against the compute v1 limits (name, description,
source), at their boundaries, and the normal form two firewalls are compared in. The usual
paths are the golden cases (tests/providers/gcp/cases)."""

from __future__ import annotations

from typing import Any

from portsync.providers.gcp.limits import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH
from portsync.providers.gcp.translate import canonical, check_firewall


def _body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "portsync-abc",
        "description": "[portsync] ssh",
        "direction": "INGRESS",
        "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
        "sourceRanges": ["10.0.0.0/8"],
    }
    body.update(fields)
    return body


def test_a_name_of_63_characters_is_valid_and_64_is_not() -> None:
    assert check_firewall(_body(name="a" * MAX_NAME_LENGTH)) == []
    long = "a" * (MAX_NAME_LENGTH + 1)
    assert check_firewall(_body(name=long)) == [
        f"firewall name {long!r} is not a valid RFC 1035 name of 1-63 characters"
    ]


def test_a_name_rfc_1035_refuses_is_refused_whatever_its_length() -> None:
    assert check_firewall(_body(name="Portsync_1")) == [
        "firewall name 'Portsync_1' is not a valid RFC 1035 name of 1-63 characters"
    ]


def test_a_description_of_2048_characters_fits_and_2049_does_not() -> None:
    assert check_firewall(_body(description="d" * MAX_DESCRIPTION_LENGTH)) == []
    assert check_firewall(_body(description="d" * (MAX_DESCRIPTION_LENGTH + 1))) == [
        "firewall portsync-abc would need a description of 2049 characters, over GCP's 2048"
    ]


def test_source_service_accounts_alone_are_a_source() -> None:
    body = _body(sourceRanges=[], sourceServiceAccounts=["cp@golden.iam.gserviceaccount.com"])
    assert check_firewall(body) == []
    assert check_firewall(_body(sourceRanges=[])) == [
        "firewall portsync-abc would have no source (GCP would read it as 0.0.0.0/0)"
    ]


def test_ports_compare_in_numeric_order_with_text_it_cannot_read_last() -> None:
    firewall = _body(allowed=[{"IPProtocol": "TCP", "ports": ["8080", "junk", "443", "1000-2000"]}])
    assert canonical(firewall)["allowed"] == (("tcp", ("443", "1000-2000", "8080", "junk")),)
