"""``python -m pyramid_session_redis.cli``: the same as the ``pyramid-session-redis`` script."""

from .parser import main

if __name__ == "__main__":  # (not on a mere import, by a documentation tool say)
    raise SystemExit(main())
