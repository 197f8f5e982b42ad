"""Bounds on what an app's folder may make the deployer parse, run and hold in memory.

Repository content is untrusted (a pull request's author decides it), so every size the
renderers handle has a ceiling; code reads these as ``limits.NAME`` at call time.
"""

from __future__ import annotations

#: One document may expand to at most this many YAML nodes, counting every alias
#: expansion: a "billion laughs" document fails here instead of exhausting memory.
MAX_EXPANDED_NODES = 200_000
#: Nesting of mappings and lists (YAML or JSON). Kubernetes objects rarely pass 20 levels;
#: deeper data only serves to exhaust the recursion of whoever walks it next.
MAX_DEPTH = 100
#: A single manifest file, or one tool's whole output, above this is refused.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
#: Objects one render may produce: ten times a large app, far below what fills memory.
MAX_OBJECTS = 10_000
#: Seconds a ``kustomize build`` or ``helm template`` may take.
TOOL_TIMEOUT = 120.0
#: Seconds every tool run of one render may take together: a plain folder builds each of
#: its kustomization subfolders with a tool run of its own, and 10,000 quick ones (55 ms
#: each here) held a worker for ten minutes, on every push to a pull request.
RENDER_TIMEOUT = 180.0
#: Kustomization files read for the remote check (a chain of bases deeper than this is
#: a loop or an attack, not an app).
MAX_KUSTOMIZATIONS = 500
#: Kustomization builds one render may cost, counting a base once per path that names it
#: (kustomize builds it anew each time): a diamond of bases ten levels deep is 1,024 builds
#: of the last one, and kustomize's time grows faster than their number. The builds of all
#: the kustomization subfolders of a plain folder count together.
MAX_KUSTOMIZE_BUILDS = 2000
