"""``python -m xvanish``: see :mod:`xvanish.cli`."""

from xvanish.cli import main

if __name__ == "__main__":
    main()
