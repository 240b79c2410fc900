"""``python -m portsync``."""

from portsync.cli import main

main()
