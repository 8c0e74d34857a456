"""`python -m similar.cli`: the same command as the `similar` console script."""

from . import main

main()
