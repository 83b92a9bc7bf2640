# authzd's image: the release binary on distroless (glibc, no shell), as a non-root user.
#   docker build -t authzd:0.1.0 .
# The build needs no system protoc (build.rs compiles the protos with protox).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin authzd \
 && install -D -m 0755 target/release/authzd /out/authzd \
 && install -d -m 0750 /out/data

# glibc and libgcc of Debian 12, like the builder's.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/authzd /usr/local/bin/authzd
# The data directory, owned by the user that runs authzd (the chart's runAsUser too).
COPY --from=build --chown=10001:10001 /out/data /var/lib/authzd
USER 10001:10001
VOLUME ["/var/lib/authzd"]
EXPOSE 50051
ENTRYPOINT ["authzd"]
# On a pod address authzd needs callers: mount a directory with callers.toml at
# /etc/authzd/auth (the chart passes its own arguments and a configuration file instead).
CMD ["serve", "--listen", "0.0.0.0:50051", "--data-dir", "/var/lib/authzd", \
     "--callers-file", "/etc/authzd/auth/callers.toml"]
