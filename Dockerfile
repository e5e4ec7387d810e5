# Tessera server image. Unbuilt here (no Docker engine in this environment); its steps are
# the same commands as the quick start in docs/api.md: npm ci (which builds dist/ through
# the prepare script), then `tessera serve`.

# --- build: dependencies (native modules included) and dist/ ---
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
# package.json's allowScripts denies onnxruntime-node's install script (a CUDA download):
# this is a CPU image. better-sqlite3 12 (loaded only on Node 20, see src/util/sqlite.ts;
# Node 24 loads better-sqlite3 13's Node-API binary, shipped in its package) uses a prebuilt
# binary when it can download one, else compiles: the slim image gets a compiler for that.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# The image's npm may predate allowScripts: the install script's own switch says the same.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci && npm prune --omit=dev

# --- runtime ---
FROM node:24-slim
ENV NODE_ENV=production
# Transparent huge pages for malloc's large chunks (the KV cache, onnxruntime's arena), as
# bin/tessera sets them for the CLI: fewer, cheaper first touches (docs/benchmarks.md,
# "Huge pages for malloc"). The entrypoint runs node directly, so it is set here.
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The gallery's static files are read from src/server/public (tsc does not copy them).
COPY src/server/public ./src/server/public
# The embedded model package(s); `serve` uses models/default unless --model says otherwise.
COPY models ./models
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:8080/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# Listening beyond loopback: set API keys with TESSERA_API_KEYS=key1,key2 (or --api-key).
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--data", "/data"]
