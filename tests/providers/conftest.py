"""The three cloud worlds of tests/providers/clouds.py, as fixtures for every test module here.

Test modules ask for ``cloud`` (parametrised over the three) or one of ``aws_cloud``,
``gcp_cloud`` and ``azure_cloud``; the emulator and moto fixtures they stand on come along.
"""

from tests.providers.clouds import (
    aws_cloud,
    azure_cloud,
    azure_emulator,
    azure_emulator_server,
    cloud,
    gcp_cloud,
    gcp_emulator,
    gcp_emulator_session,
    moto_server,
    moto_url,
)

__all__ = [
    "aws_cloud",
    "azure_cloud",
    "azure_emulator",
    "azure_emulator_server",
    "cloud",
    "gcp_cloud",
    "gcp_emulator",
    "gcp_emulator_session",
    "moto_server",
    "moto_url",
]
