# syntax=docker/dockerfile:1
#
# inferwatt container image: the production bundle (scripts/build-bundle.mjs) on Node 20, non-root.
#
#   docker build -t inferwatt:0.1.0 .
#   docker run --rm --gpus 'all,"capabilities=utility"' -p 127.0.0.1:8790:8790 -p 127.0.0.1:9477:9477 \
#     -e INFERWATT_UPSTREAM=http://vllm:8000 -e INFERWATT_REGION=FR inferwatt:0.1.0
#
# Configure it with INFERWATT_* environment variables (every flag has one: README "Configuration");
# that keeps the listen flags of CMD in force. Replacing CMD replaces them too: repeat them.
# What each sensor needs in a container, and why the image is non-root: docs/deployment.md.
#
# The base is pinned to an exact Node release on Debian 12. To pin the digest as well (reproducible
# builds), resolve it once and pass it:
#   docker buildx imagetools inspect node:20.20.2-bookworm-slim   # → sha256:…
#   docker build --build-arg NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:… -t inferwatt:0.1.0 .
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# --- build: install with the lock file, bundle the CLI ------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# The lock file pins every version, and package.json's overrides pin the fixed xml2js.
COPY package.json package-lock.json ./
# Dev dependencies are needed here (esbuild); none of them reaches the final image.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json LICENSE ./
COPY config/ ./config/
COPY scripts/build-bundle.mjs ./scripts/
COPY src/ ./src/
# The bundle directory holds everything the agent runs: the CLI bundle, config/default.yaml, the factor
# tables, and the only packages that cannot be bundled (koffi with this platform's native addon,
# node-nvidia-smi with xml2js). Built on the target platform, so koffi's addon matches it.
RUN node scripts/build-bundle.mjs --out /out/app

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# npm, npx, corepack and yarn are not needed to run the bundle: fewer files, fewer advisories to track.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
# NVIDIA container toolkit: expose the GPUs, and only the driver's management side (NVML and
# nvidia-smi), not compute. The agent reads power and energy; it runs no kernels.
ENV NODE_ENV=production \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=utility
# Owned by root and not writable by the agent's user: the image's files cannot be changed at run time.
COPY --from=build --chown=0:0 /out/app /app
WORKDIR /app
# The node user of the base image, by number so that Kubernetes can check runAsNonRoot. NVML and
# nvidia-smi need no privileges. RAPL does: energy_uj is readable by root only since Linux 5.10
# (CVE-2020-8694); run as root only for it (--user 0 with every capability dropped) or make the files
# readable on the host. Without it, `auto` uses the labelled CPU-load estimate. docs/deployment.md.
USER 1000:1000
# 8790: the proxy clients talk to; 9477: /metrics, /healthz, /readyz, /api (the defaults' ports).
EXPOSE 8790 9477
# The base image has no curl or wget: Node's fetch checks the liveness route. It targets the metrics
# port of CMD; if you move it, set INFERWATT_HEALTHCHECK_URL too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.INFERWATT_HEALTHCHECK_URL ?? 'http://127.0.0.1:9477/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM makes the agent finish every open record, flush the records file and exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/inferwatt.mjs"]
# The defaults listen on 127.0.0.1, unreachable from outside a container; listening on every interface
# is the explicit choice made here, for the container's own network namespace only.
CMD ["run", "--listen", "0.0.0.0:8790", "--metrics-listen", "0.0.0.0:9477"]

LABEL org.opencontainers.image.title="inferwatt" \
      org.opencontainers.image.description="Measured energy, CO2e and water of every LLM inference request, exported to Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
