# syntax=docker/dockerfile:1
# The auth server image. Build from the repository root:
#   docker build -f deploy/api.Dockerfile -t superset-api .
# Run with DATABASE_URL, API_PUBLIC_URL and a sign-in provider (see deploy/README.md):
#   docker run -p 8788:8788 -e DATABASE_URL=... -e API_PUBLIC_URL=https://auth.example.com \
#     -e GITHUB_CLIENT_ID=... -e GITHUB_CLIENT_SECRET=... superset-api

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Only what the server's crates need: the desktop app's sources and the web UI stay
# out, so changing them does not rebuild this image.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p superset-api --bin superset-api \
    && cp target/release/superset-api /usr/local/bin/superset-api

# glibc and libgcc, no shell, no package manager; runs as uid 65532. The upstream
# providers are reached over rustls with its own root certificates.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/superset-api /usr/local/bin/superset-api
# Reachable from outside the container.
ENV API_HOST=0.0.0.0
EXPOSE 8788
USER 65532:65532
# `probe` GETs /health on API_HOST:API_PORT over plain TCP (no curl here).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/superset-api", "probe"]
ENTRYPOINT ["/usr/local/bin/superset-api"]
