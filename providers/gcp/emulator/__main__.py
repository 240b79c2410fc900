"""Run the emulator: ``python -m portsync.providers.gcp.emulator``."""

import sys

from .cli import main

sys.exit(main())
