# syntax=docker/dockerfile:1
# leadrouter image: one image, two processes (gateway and worker), chosen by the command.
# Multi-stage: dependencies, TypeScript build, production dependencies only, then a slim runtime.
# Debian (glibc), not Alpine: the Temporal SDK's native core ships glibc builds.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY shared shared
COPY workflows workflows
COPY activities activities
COPY apps apps
COPY scripts scripts
RUN npm run build

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    METRICS_PORT=9464 \
    ROUTING_CONFIG=config/routing.yaml
WORKDIR /app
COPY --from=prod-deps /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY bin bin
COPY config config
USER node
# 3000: gateway HTTP API; 9464: worker /metrics
EXPOSE 3000 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The gateway by default; the worker is `node dist/apps/worker/main.js`, the CLI `node bin/leadrouter.js`.
CMD ["node", "dist/apps/gateway/main.js"]
