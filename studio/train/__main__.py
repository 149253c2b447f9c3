import sys

from studio.train.worker import main

sys.exit(main())
