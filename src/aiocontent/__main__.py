"""``python -m aiocontent``: the ``aiocontent`` command line."""

from __future__ import annotations

from aiocontent._cli import main

if __name__ == "__main__":
    main()
