"""Pulling OCI and Docker images from a registry (distribution API v2) into a store.

The implementation; the public names are in :mod:`aiocontent.registry`.
"""
