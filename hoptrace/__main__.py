import sys

from hoptrace._cli import main

sys.exit(main())
