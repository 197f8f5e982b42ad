"""The only package that imports ``kubernetes``: client, apply, prune, health, diff.

Everything outside it exchanges plain dicts and the project's own errors with it.
"""
