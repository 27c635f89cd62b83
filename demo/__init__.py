"""The demo: a small Pyramid app with its sessions in Redis (``python -m demo``)."""
