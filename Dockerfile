# Quell image: `docker build -t quell .`, or let docker-compose.yml build it.
# The image runs the compiled CLI from dist/ (bin/quell.js uses src/ through tsx only when src/ exists,
# and the runtime stage below never copies src/).
#   docker run quell worker   # a worker (needs TEMPORAL_ADDRESS)
#   docker run quell api      # the HTTP API (needs TEMPORAL_ADDRESS)
#   docker run -e TEMPORAL_ADDRESS=temporal:7233 quell start   # worker and API in one container
# The image carries production dependencies only (no tsx, esbuild, pino-pretty or @temporalio/testing), so it
# runs no embedded dev server: every command needs TEMPORAL_ADDRESS (docker-compose.yml runs Temporal).

# Node 24 LTS (Node 20 reached end of life on 2026-04-30), pinned to a release; the project itself still runs
# on Node >= 20.3 for local use. Bump deliberately, with the image rebuilt and the compose stack tried.
ARG NODE_IMAGE=node:24.11.1-bookworm-slim

# ---- build: all dependencies, compile TypeScript to dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# tsc does not copy .cjs files: the dev-server guardian is copied next to the compiled dev-server.js, which
# spawns it from its own directory. The console's browser bundle is written next to its compiled server module
# (a checkout bundles it in memory at start instead). playbooks/ and samples/ are created if absent (git keeps
# no empty folders) so that the runtime stage can always copy them.
RUN npm run build \
  && cp src/temporal/dev-server-guardian.cjs dist/src/temporal/ \
  && npx tsx scripts/build-console.ts dist/src/console/web \
  && test -f dist/src/cli/main.js \
  && test -f dist/workflows/index.js \
  && test -f dist/activities/index.js \
  && mkdir -p playbooks samples

# ---- runtime: production dependencies and the compiled output only ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  QUELL_DATA_DIR=/var/lib/quell \
  QUELL_API_HOST=0.0.0.0 \
  QUELL_API_PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/playbooks ./playbooks
COPY --from=build /app/samples ./samples
# The application files stay owned by root (read-only to the process); only the data dir is writable. A
# fresh named volume mounted there takes this ownership.
RUN mkdir -p /var/lib/quell && chown node:node /var/lib/quell
USER node
EXPOSE 8080
# The API's liveness. A worker serves no HTTP: docker-compose.yml disables this check for quell-worker.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.QUELL_API_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/quell.js"]
CMD ["start"]
