# Assay API and worker image (one codebase, two entrypoints). For a deployment with registry access:
#   docker compose up --build
# The worker needs the host's Docker socket and the sandbox images (scripts/build-images.sh on the host).
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY migrations migrations
COPY scripts scripts
COPY perf perf
# The ONNX interface check is shared with the runner image; tsconfig.build.json compiles it into dist/.
COPY sandbox-images/onnx-runner/src/interface-check.js sandbox-images/onnx-runner/src/interface-check.d.ts sandbox-images/onnx-runner/src/
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production ORT_DISABLE_TELEMETRY=1 ASSAY_MODE=production ASSAY_CATALOGUE_DIR=/app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY cohorts cohorts
COPY benchmarks benchmarks
COPY sandbox-images/onnx-runner/VERSION sandbox-images/onnx-runner/VERSION
USER node
EXPOSE 3000
CMD ["node", "dist/src/main.js"]
