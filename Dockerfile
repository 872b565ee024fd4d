# tcpscope images, from one multi-stage build:
#   --target agent      bpftrace (Debian) + node + the compiled CLI; runs as root with the
#                       capabilities the chart grants (SYS_ADMIN, SYS_PTRACE)
#   --target collector  node + the compiled CLI; non-root, read-only root filesystem
# The TypeScript is compiled once (stage `build`). Node is the same major version we develop
# on, taken from the npm registry's node-linux-<arch> package (Debian bookworm ships 18) and
# checked against the SHA-512 below. The base image is a build argument (tests build FROM a
# debootstrapped bookworm: scripts/image-base.sh).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# --- node + npm, fetched and verified --------------------------------------------------
FROM ${BASE_IMAGE} AS node
ARG TARGETARCH
ARG NPM_REGISTRY=https://registry.npmjs.org
ARG NODE_VERSION=20.20.2
ARG NODE_SHA512_AMD64=3de1d033cc007661ed640d66068732819c6ce4b8945adb097b3413901774898f7cecaa46ac3d4edad544c9dbcc662b9771e45a9f1b7bae34e70c407038fba3a1
ARG NODE_SHA512_ARM64=2c25c99cd4c58b21ae601c36819488e4e04531b92300fb7cb2a0ff34aad6a04d90983812b9b4ea16783a19a349f4427c1e9c413067165a96db72ce15a3e0a71a
ARG NPM_VERSION=10.8.2
ARG NPM_SHA512=c7f0088c520a46596b85c6f8f1da943400199748a0f7ea8cb8df75469668dc26f6fb3ba26df87e2884a5ebe91557292d0f3db7d0929cdb4f14910c3032ac81fb
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN set -eu; \
    case "${TARGETARCH:-amd64}" in \
      amd64) arch=x64; sum="$NODE_SHA512_AMD64" ;; \
      arm64) arch=arm64; sum="$NODE_SHA512_ARM64" ;; \
      *) echo "unsupported architecture ${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    curl -fsSL "$NPM_REGISTRY/node-linux-$arch/-/node-linux-$arch-$NODE_VERSION.tgz" -o /tmp/node.tgz; \
    echo "$sum  /tmp/node.tgz" | sha512sum -c -; \
    mkdir -p /opt/node; tar -xzf /tmp/node.tgz -C /opt/node --strip-components=1 package/bin/node package/LICENSE package/include; \
    curl -fsSL "$NPM_REGISTRY/npm/-/npm-$NPM_VERSION.tgz" -o /tmp/npm.tgz; \
    echo "$NPM_SHA512  /tmp/npm.tgz" | sha512sum -c -; \
    mkdir -p /opt/npm; tar -xzf /tmp/npm.tgz -C /opt/npm --strip-components=1; \
    rm /tmp/node.tgz /tmp/npm.tgz; \
    printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npm-cli.js "$@"\n' > /usr/local/bin/npm; chmod +x /usr/local/bin/npm; \
    ln -s /opt/node/bin/node /usr/local/bin/node; \
    node --version; npm --version
# node trusts its own CA list unless told; npm in this stage uses the system's (base image's) CAs
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    NPM_CONFIG_REGISTRY=${NPM_REGISTRY}/ NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

# --- the TypeScript, compiled once ------------------------------------------------------
FROM node AS build
WORKDIR /src
COPY package.json package-lock.json ./
# (npm can exit 0 after a failed install: check the result)
RUN npm ci --ignore-scripts --loglevel=error && test -f node_modules/typescript/bin/tsc
COPY tsconfig.json ./
COPY gen gen
COPY common common
COPY agent agent
COPY collector collector
COPY cli cli
# the project's one build entry point (server code and the web UI's browser code)
RUN npm run build && rm -f dist/.tsbuildinfo dist/*/.tsbuildinfo \
 && mkdir -p /assets && find agent collector cli common -type f ! -name '*.ts' ! -name '*.mts' ! -name 'tsconfig*.json' -exec cp --parents {} /assets/ \;

# --- production dependencies only ----------------------------------------------------------
# Install scripts run only for the packages package.json's allowScripts names (native addons
# such as better-sqlite3), compiled here against the headers of the node we ship
# (no prebuilt binaries are downloaded); their build intermediates are left behind.
FROM node AS prod-deps
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --loglevel=error && test -d node_modules/@grpc/grpc-js && test ! -d node_modules/typescript \
 && native="$(node -e "const p=require('./package.json'); const a=p.allowScripts||{}; console.log(Object.keys(a).filter((k)=>a[k]&&(p.dependencies||{})[k]).join(' '))")" \
 && if [ -n "$native" ]; then \
      npm_config_nodedir=/opt/node npm_config_build_from_source=true npm_config_jobs=max npm rebuild --foreground-scripts $native >/tmp/native.log 2>&1 || { tail -40 /tmp/native.log; exit 1; }; \
      for m in $native; do rm -rf "node_modules/$m/deps" "node_modules/$m/src" "node_modules/$m/build/Release/obj.target" "node_modules/$m/build/Release/.deps" "node_modules/$m/build/Release/obj"; done; \
    fi

# --- what both images run: /app laid out like the repository -------------------------------
FROM scratch AS app
COPY --from=node /opt/node/bin/node /usr/local/bin/node
COPY --from=node /opt/node/LICENSE /usr/share/doc/node/LICENSE
COPY --from=prod-deps /src/node_modules /app/node_modules
COPY --from=build /src/dist /app/dist
COPY package.json /app/package.json
COPY bin /app/bin
# files the code reads beside its sources (bpftrace programs, web UI), same paths as in the repository
COPY --from=build /assets/ /app/

# --- agent: bpftrace + node + the CLI --------------------------------------------------------
FROM ${BASE_IMAGE} AS agent
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends bpftrace \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=app / /
RUN ln -s /app/bin/tcpscope.js /usr/local/bin/tcpscope && node --version && bpftrace --version && tcpscope --version
ENV NODE_ENV=production
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/cli/main.js"]
CMD ["agent"]

# --- collector: node + the CLI, non-root, read-only root filesystem -------------------------
FROM ${BASE_IMAGE} AS collector
COPY --from=app / /
RUN ln -s /app/bin/tcpscope.js /usr/local/bin/tcpscope && node --version && tcpscope --version \
 && groupadd --system --gid 65532 tcpscope && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tcpscope \
 && mkdir -p /var/lib/tcpscope && chown 65532:65532 /var/lib/tcpscope
ENV NODE_ENV=production TCPSCOPE_DATA_DIR=/var/lib/tcpscope
USER 65532:65532
VOLUME /var/lib/tcpscope
# 7400 gRPC ingest (agents), 7401 HTTP (JSON API, web UI, /metrics), 7402 gRPC query (CLI)
EXPOSE 7400 7401 7402
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/cli/main.js"]
CMD ["collector"]
