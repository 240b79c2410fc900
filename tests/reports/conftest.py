"""Fixtures for the report, audit, explain and fleet tests: the AWS world on moto server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.providers.aws.conftest import AwsWorld, aws_world, moto_server, moto_url
from tests.providers.azure.conftest import azure_emulator, azure_emulator_server
from tests.providers.gcp.conftest import gcp_emulator, gcp_emulator_session, gcp_project

__all__ = [
    "AwsWorld",
    "aws_world",
    "azure_emulator",
    "azure_emulator_server",
    "gcp_emulator",
    "gcp_emulator_session",
    "gcp_project",
    "moto_server",
    "moto_url",
]

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / "tests/data/sarif/sarif-schema-2.1.0.json"


def open_to(
    world: AwsWorld,
    group: str,
    protocol: str,
    ports: tuple[int, int] | None,
    cidr: str,
    description: str = "hand-made",
) -> None:
    """Authorize one ingress rule on ``group`` from ``cidr`` (IPv4 or IPv6)."""
    perm: dict[str, Any] = {"IpProtocol": "-1" if protocol == "all" else protocol}
    if ports is not None:
        perm["FromPort"], perm["ToPort"] = ports
    if ":" in cidr:
        perm["Ipv6Ranges"] = [{"CidrIpv6": cidr, "Description": description}]
    else:
        perm["IpRanges"] = [{"CidrIp": cidr, "Description": description}]
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[perm])


@pytest.fixture
def sarif_validator() -> Any:
    """A validator for the official SARIF 2.1.0 schema (kept in tests/data/sarif)."""
    import json

    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
