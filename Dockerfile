# Production image: the two binaries on a slim Debian. Configure with DATABASE_URL (any
# PostgreSQL 14+); without it the server would try to start a private cluster, which this
# image deliberately does not ship.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ledger-http --bin ledger-replay

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 ledger
COPY --from=build /src/target/release/ledger-http /src/target/release/ledger-replay /usr/local/bin/
USER ledger
ENV LEDGER_BIND=0.0.0.0:8080 LEDGER_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ledger-http"]
