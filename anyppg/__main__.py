import sys

from anyppg.cli import main

sys.exit(main())
