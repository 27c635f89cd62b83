"""``python -m pyramid_session_redis.cli``: the same as the ``pyramid-session-redis`` script."""

from .parser import main

raise SystemExit(main())
