import sys

from addrl_graph.cli import main

sys.exit(main())
