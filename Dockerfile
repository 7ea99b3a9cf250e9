# Wellspring: one image for every role (ingest, manifest worker, reader); the command picks the role.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg fonts-dejavu-core ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Exactly the lock's production tree: no devDependencies (tools/, tests and benches are not in the image), and
# no fallback to npm install (which would resolve versions the lock does not name).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
COPY workers ./workers
COPY tsconfig.json ./
ENV NODE_ENV=production
EXPOSE 8080 1935
CMD ["npx", "tsx", "workers/all.ts"]
