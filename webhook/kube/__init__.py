"""The only package that imports ``kubernetes``: client, apply, prune, health, diff, hooks
(running one sync hook) and recreate (immutable fields).

Everything outside it exchanges plain dicts and the project's own errors with it.
"""
