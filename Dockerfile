# AgenC Speculate worker image (docker-compose.yml: services worker and proof-worker).
# .dockerignore keeps node_modules, .venv, .data (keys, chain, admin token) and .git out of the build
# context (checked by test/ops/docker-context.test.ts).
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production
# A bare process serves metrics on 127.0.0.1 only; in a container that loopback is unreachable, and
# Prometheus scrapes worker:9090 from another container (test/ops/compose-worker.test.ts).
ENV METRICS_HOST=0.0.0.0

# Dependencies first so that a source change does not reinstall them. tsx runs the TypeScript
# sources directly and is a runtime dependency, so dev dependencies stay out of the image.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .
# The prebuilt CLI (dist/agenc.cjs): `agenc` in the container starts without compiling TypeScript.
RUN node scripts/build-cli.js
# .data holds circuit artifacts and local state; compose mounts the agenc-data volume here, and a
# new named volume takes this directory's owner.
RUN mkdir -p .data && chown -R node:node .data

USER node

# 9090: /metrics and /admin (METRICS_PORT); 9464: Temporal SDK Prometheus telemetry.
EXPOSE 9090 9464

CMD ["npx", "tsx", "workers/main.ts"]
