"""Compatibility with a real containerd daemon (opt-in: ``AIOCONTENT_CONTAINERD_TESTS=1``)."""
