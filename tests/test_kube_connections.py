"""Syncs reuse their cluster connections: counted at a relay in front of the API server."""

from __future__ import annotations

import os
from pathlib import Path

from tests.gitops import cm, dump, make_gitops
from tests.relay import Relay
from tests.replicas import kubeconfig_via, server_port


def test_later_syncs_reuse_the_connections_of_the_first(
    tmp_path: Path, kubeconfig: Path, namespace: str
) -> None:
    """A new client per sync opened new TLS connections for each wide tier; the engine now
    keeps its cluster, so a later sync of ten changed objects opens few, if any, and a
    kubeconfig written again (new credentials) gets a new client."""
    relay = Relay(("127.0.0.1", server_port(kubeconfig)))
    try:
        via = kubeconfig_via(kubeconfig, relay.port, tmp_path / "kubeconfig-relay")
        ops = make_gitops(tmp_path, via, namespace)
        engine = ops.engine()

        def version(v: str) -> str:
            objects = [cm(f"settings-{i}", v) for i in range(10)]
            return ops.commit({"apps/shop/app.yaml": dump(*objects)})

        assert engine.sync(ops.app, version("1")).ok
        first = relay.accepted
        assert first >= 1
        for v in ("2", "3", "4"):
            result = engine.sync(ops.app, version(v))
            assert result.ok, result.error
            assert len(result.configured) == 10  # ten dry runs and ten applies each
        # Thirty dry runs and thirty applies went over the connections already open (a
        # parallel tier may still open one more than it had).
        assert relay.accepted - first <= 2, (first, relay.accepted)

        before = relay.accepted
        via.write_text(via.read_text())  # the same kubeconfig, written again
        os.utime(via, ns=(1, 1))
        assert engine.sync(ops.app, version("5")).ok
        assert relay.accepted > before  # a new client: the old one's connections are not used
    finally:
        relay.close()
