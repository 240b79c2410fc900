"""Fixtures for the CLI tests that need a cloud: the emulators of tests/providers."""

from __future__ import annotations

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
