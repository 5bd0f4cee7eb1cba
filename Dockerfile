# syntax=docker/dockerfile:1
# The journey runtime's image (deploy/image/README.md): the `journeys` CLI compiled to JavaScript, run by node as the
# unprivileged `node` user. `docker run IMAGE` is `journeys run --no-sample` against $NATS_URL; `docker run IMAGE defs
# deploy /defs/x.json` runs any other command. test/dockerfile.test.ts checks this file against the code.

# Build: every dependency (TypeScript is a dev one), compile, then drop the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin/build.js bin/journeys.js bin/
COPY runtime runtime
COPY actors actors
COPY schemas schemas
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run: the compiled output and production dependencies only; no compiler, no tsx run, no sources, no package installs.
FROM node:20-bookworm-slim
WORKDIR /app
# Here, not in the build stage: NODE_ENV=production there would make `npm ci` skip the compiler.
ENV NODE_ENV=production HTTP_HOST=0.0.0.0
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/bin/journeys.js bin/
# Owned by root and read-only to the runtime. The one folder it may write: `run`'s data folder (the embedded
# nats-server's store, only when NATS_URL is unset; with NATS_URL nothing is written), so the root filesystem can be
# mounted read-only.
RUN mkdir .data && chown node:node .data
VOLUME ["/app/.data"]
USER node
# HTTP_PORT's default (runtime/serve.ts): the dashboard, /metrics, /healthz, /readyz.
EXPOSE 8080
# No curl or wget in the slim image: Node's fetch. /healthz is 503 when timers fall behind or work stalls.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 and `run` handles SIGTERM itself (in-flight steps finish, at most 15 s): give `docker stop` -t 20.
ENTRYPOINT ["node", "dist/runtime/cli/main.js"]
CMD ["run", "--no-sample"]
