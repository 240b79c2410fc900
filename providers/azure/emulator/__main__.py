"""Run the emulator: ``python -m portsync.providers.azure.emulator``."""

import sys

from .cli import main

sys.exit(main())
