"""Sessions under load while Redis fails, and a long run that must not leak.

``python -m loadtest`` (see ``__main__``).  The app is in ``app``, the
servers and their faults in ``topology``, the browsers in ``load``, the two
kinds of run in ``run``.
"""
