"""Repository-wide pytest plugins: the real Kubernetes control-plane fixtures."""

pytest_plugins = [
    "tests.plugins.bytecode",
    "tests.plugins.cluster",
    "tests.plugins.gitops",
    "tests.plugins.pipeline",
    "tests.plugins.postgres",
    "tests.plugins.processes",
    "tests.plugins.sinkhole",
]
