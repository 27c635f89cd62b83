"""``pyramid-session-redis``: count, inspect and purge the sessions of an application.

Reads the application's ini file as ``pshell`` does, and finds Redis, the key
prefix, the serializer and the secret in its ``redis.sessions.*`` settings::

    pyramid-session-redis development.ini stats
    pyramid-session-redis development.ini#main show <session id or cookie value>
    pyramid-session-redis production.ini purge --dry-run

Every walk over the keys is a ``SCAN ... MATCH <prefix>* COUNT <batch>`` in
pages, with one pipeline (or one UNLINK) per page, never ``KEYS``: it is safe
on a large live server.  All Redis commands go through ``Keyspace``.
Exit status: 0 done, 1 not found or refused, 2 usage or settings error,
3 Redis failed.  See docs/cli.rst.

One module per job: ``target`` (settings to the sessions to work on),
``stats``, ``show`` (and delete), ``purge``, ``progress``, ``errors``, and
``parser`` (the options and ``main``).
"""

from .parser import main

__all__ = ["main"]
