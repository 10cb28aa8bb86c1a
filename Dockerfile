# The godiag operator image.
#   docker build -t ghcr.io/godiag/godiag:0.1.0 .
# NOTE: not built in this repository's CI sandbox (it has no Docker engine, and no registry to
# pull the base images from); the local e2e cluster gets its image from e2e/images/build.sh
# instead. Keep this file correct by hand: same binary, same entrypoint, same uid (65532).

# --- build: a release binary from the locked dependency set ---
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole workspace: Cargo resolves every member (operator, e2e) even when building one.
COPY . .
# Cache mounts keep the registry and target dir between builds (BuildKit); the binary is copied
# out of the cache mount because the mount is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release -p godiag --locked \
 && install -D -m 0755 target/release/godiag /out/godiag

# --- run: glibc + libgcc only (rustls/aws-lc are linked in), no shell, non-root ---
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/godiag /godiag
# 65532 is distroless's "nonroot"; the manifests and chart set the same uid with runAsNonRoot.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/godiag", "run"]
