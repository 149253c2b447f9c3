"""FireAct Studio entry point: no arguments starts the studio; subcommands run stages headless."""

import sys

from studio.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
