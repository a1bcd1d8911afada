# key-rotator worker image: Node 24 LTS, production dependencies only, non-root, read-only root FS.
# Build: docker build -t key-rotator:0.1.0 .
# Run:   docker run --read-only --tmpfs /tmp -e REDIS_URL=... -e KEY_ROTATOR_CONFIG=/config/inventory.yaml key-rotator:0.1.0

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# glibc's malloc gives back what the startup used (listing every secret): an idle worker with
# 10,000 credentials keeps about 10 MiB less (bench: idle RSS). The bench runs workers the same way.
ENV MALLOC_TRIM_THRESHOLD_=65536
# The worker's local socket (mode 0600, in /tmp): `docker exec … rotate <id> --emergency` asks the
# worker there instead of loading the queue's path (README). Empty: no socket.
ENV KEY_ROTATOR_SOCKET=/tmp/key-rotator.sock
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The built-in vendor definitions (docs/vendors.md): data the worker reads at start.
COPY vendors ./vendors
# The image's own "node" user (uid 1000); nothing is written outside /tmp, so the root FS can be read-only.
USER 1000:1000
EXPOSE 8080
# Node runs as PID 1 and handles SIGTERM itself: the worker finishes the steps in hand and exits.
STOPSIGNAL SIGTERM
# A capped young generation: an idle worker gives its startup's memory back, and a busy one does
# not spend its time collecting garbage; a capped old-generation growth keeps the startup's peak
# under the chart's memory limit; gc() lets an idle worker give back what a tick grew; no baseline
# compiler keeps no machine code for code run once (WORKER_NODE_FLAGS in src/demo/cli-process.ts says why).
ENTRYPOINT ["node", "--max-semi-space-size=8", "--heap-growing-percent=50", "--expose-gc", "--no-sparkplug", "dist/src/cli/main.js"]
CMD ["worker"]
