# Production image: the two binaries on a slim Debian. Configure with DATABASE_URL (any
# PostgreSQL 14+) and the variables of README.md "Configuration" (LEDGER_JWKS_FILE or
# LEDGER_JWKS_URL, LEDGER_DATA_KEY_FILE, the providers'); without DATABASE_URL the server
# would try to start a private cluster, which this image deliberately does not ship.
# Base images are pinned: the toolchain to the workspace's rust-version (Cargo.toml), the
# runtime to a dated Debian snapshot. Bump both deliberately.

FROM rust:1.92-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ledger-http --bin ledger-replay

FROM debian:bookworm-20250520-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 ledger
COPY --from=build /src/target/release/ledger-http /src/target/release/ledger-replay /usr/local/bin/
USER ledger
ENV LEDGER_ENV=production LEDGER_BIND=0.0.0.0:8080 LEDGER_LOG_FORMAT=json
EXPOSE 8080
# Ready: the database answers as a writable primary and the read models are caught up.
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/ledger-http", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/ledger-http"]
