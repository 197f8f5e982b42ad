# syntax=docker/dockerfile:1
# The deployer's image: `webhook-deployer serve` with git, helm, kustomize and kubelogin.
#
#   docker build -t <registry>/webhook-deployer:<tag> .
#
# helm and kustomize are built by scripts/build-test-tools from the pins in
# tests/cluster/tools/{helm,kustomize}/go.mod, so the image renders apps exactly as the tests
# do; tests/test_image.py checks that the versions below match those pins. kubelogin is
# Azure's exec credential plugin, for kubeconfigs of AAD-enabled AKS clusters.

ARG GO_VERSION=1.26
ARG PYTHON_VERSION=3.11

# --- tools: helm, kustomize, kubelogin, statically linked -------------------------------
FROM golang:${GO_VERSION}-bookworm AS tools
ARG HELM_VERSION=v3.19.5
ARG KUSTOMIZE_VERSION=v5.7.1
ARG KUBELOGIN_VERSION=v0.2.21
# The module's hash as the Go checksum database records it (go mod download -json): the build
# stops if the proxy ever serves other content for this version.
ARG KUBELOGIN_SUM=h1:SJfcLbsV94TNsfGx+uQMLxgmQfNUbXH9d9GGTlw1QK8=
WORKDIR /src
COPY scripts/build-test-tools scripts/build-test-tools
COPY tests/cluster/tools tests/cluster/tools
ENV XDG_CACHE_HOME=/cache CGO_ENABLED=0
RUN bin=$(scripts/build-test-tools --only helm,kustomize | tail -n 1) \
 && mkdir -p /out \
 && cp "$bin/helm" "$bin/kustomize" /out/ \
 && test "$(/out/helm version --template '{{.Version}}')" = "$HELM_VERSION" \
 && test "$(/out/kustomize version)" = "$KUSTOMIZE_VERSION"
RUN test "$(go mod download -json "github.com/Azure/kubelogin@${KUBELOGIN_VERSION}" \
        | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')" = "$KUBELOGIN_SUM" \
 && GOBIN=/out go install -trimpath -ldflags "-s -w -X main.gitTag=${KUBELOGIN_VERSION}" \
        "github.com/Azure/kubelogin@${KUBELOGIN_VERSION}" \
 && /out/kubelogin --version

# --- runtime -----------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=tools /out/helm /out/kustomize /out/kubelogin /usr/local/bin/

WORKDIR /src
COPY pyproject.toml README.md ./
COPY webhook webhook
# The PostgreSQL driver (psycopg[binary]) is a default dependency.
RUN pip install --no-cache-dir . && rm -rf /src

# A non-root user whose ids match the chart's podSecurityContext. Everything written at run
# time goes to the three volumes, so the root filesystem can be read-only: HOME (git's and
# helm's own files) is /tmp, git mirrors go to the cache, the SQLite queue to the data dir.
RUN groupadd --system --gid 10001 deployer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin deployer \
 && mkdir -p /var/cache/webhook-deployer /var/lib/webhook-deployer /etc/webhook-deployer \
 && chown 10001:10001 /var/cache/webhook-deployer /var/lib/webhook-deployer
ENV HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GIT_TERMINAL_PROMPT=0 \
    WEBHOOK_DEPLOYER_CONFIG=/etc/webhook-deployer/deployer.yaml \
    DEPLOYER_CACHE_DIR=/var/cache/webhook-deployer \
    DEPLOYER_DATABASE_URL=sqlite:////var/lib/webhook-deployer/deployer.db \
    DEPLOYER_BIND=0.0.0.0:8080
VOLUME ["/tmp", "/var/cache/webhook-deployer", "/var/lib/webhook-deployer"]
WORKDIR /var/lib/webhook-deployer
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["webhook-deployer"]
CMD ["serve"]
