# syntax=docker/dockerfile:1
# The streams server image. Build from the repository root:
#   docker build -f deploy/streams.Dockerfile -t superset-streams .
# Run with nothing but DATABASE_URL (see deploy/README.md):
#   docker run -p 8787:8787 -e DATABASE_URL=postgres://USER:PASSWORD@HOST/DB superset-streams

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Only what the server's crates need: the desktop app's sources and the web UI stay
# out, so changing them does not rebuild this image.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p superset-streams --bin superset-streams \
    && cp target/release/superset-streams /usr/local/bin/superset-streams

# glibc and libgcc, no shell, no package manager; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/superset-streams /usr/local/bin/superset-streams
# Production defaults: reachable from outside the container, and streams kept in the
# DATABASE_URL database so any number of instances can serve them.
ENV STREAMS_HOST=0.0.0.0
ENV STREAMS_STORAGE=postgres
EXPOSE 8787
USER 65532:65532
# `probe` GETs /health on STREAMS_HOST:STREAMS_PORT over plain TCP (no curl here).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/superset-streams", "probe"]
ENTRYPOINT ["/usr/local/bin/superset-streams"]
