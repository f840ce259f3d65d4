# syntax=docker/dockerfile:1
# leadrouter image: one image, three commands (gateway, worker, CLI), compiled JavaScript on a non-root user.
# Multi-stage: dependencies, TypeScript build, production dependencies only, then a slim runtime that holds
# the compiled product code and nothing else: no demo config or keys, no tests, benches or dev tooling.
# Debian (glibc), not Alpine: the Temporal SDK's native core ships glibc builds.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Applied by npm ci's postinstall (patch-package): the project's fixes to its dependencies (decision 0026).
COPY patches patches
RUN npm ci --no-audit --no-fund

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY apps apps
COPY workflows workflows
COPY activities activities
COPY shared shared
# Every folder tsconfig.build.json includes (checked by test/unit/compose.test.ts); the runtime copies only
# the product's folders of dist.
RUN npm run build

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# patch-package is a development tool: the patched packages come from the deps stage, where it ran.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=deps /app/node_modules/@temporalio/worker node_modules/@temporalio/worker

FROM ${NODE_IMAGE} AS runtime
# NODE_ENV=production makes the processes refuse demo or short credentials (shared/config.ts).
# The routing config is not in the image: mount it (it holds the partners' and sources' secrets).
ENV NODE_ENV=production \
    PORT=3000 \
    METRICS_PORT=9464 \
    ROUTING_CONFIG=/etc/leadrouter/routing.yaml
WORKDIR /app
COPY --from=prod-deps /app/node_modules node_modules
# Only the processes' code, and the workflow bundle `npm run build` kept for it (dist/.cache): the worker loads
# that instead of bundling dist/workflows at each start.
COPY --from=build /app/dist/apps/gateway dist/apps/gateway
COPY --from=build /app/dist/apps/worker dist/apps/worker
COPY --from=build /app/dist/apps/cli dist/apps/cli
COPY --from=build /app/dist/workflows dist/workflows
COPY --from=build /app/dist/activities dist/activities
COPY --from=build /app/dist/shared dist/shared
COPY --from=build /app/dist/.cache dist/.cache
COPY package.json ./
COPY bin bin
# Files stay root-owned and read-only to the process.
USER node
# 3000: gateway HTTP API; 9464: worker /metrics and probes. Probes are per command, so they are set by
# the orchestrator (docker-compose.yml, Kubernetes), not here: see docs/operations.md "Running in production".
EXPOSE 3000 9464
# The gateway by default; the worker is `node dist/apps/worker/main.js`, the CLI `node bin/leadrouter.js`.
CMD ["node", "dist/apps/gateway/main.js"]
