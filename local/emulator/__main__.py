"""``python -m local.emulator --port 8080 --user svc:secret`` (see ``local.emulator.cli``)."""

import sys

from local.emulator.cli import main

sys.exit(main())
