# syntax=docker/dockerfile:1
#
# kwait: one static musl binary on distroless/static, running as uid 65532.
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg KWAIT_COMMIT="$(git rev-parse --short=12 HEAD)" -t kwait:dev .
#
# The builder runs on the build machine's own platform ($BUILDPLATFORM) and cross-compiles for
# $TARGETARCH with Rust's musl targets, so rustc never runs under QEMU emulation (an emulated
# arm64 build of this dependency tree takes many times longer than a cross build). Rust links
# the musl targets self-contained (its own crt objects, libc.a and libunwind.a), so the only
# foreign tool is a C compiler for ring's C and assembly: Debian's gcc for the target
# (x86_64-linux-gnu-gcc / aarch64-linux-gnu-gcc; ring's C needs only the compiler's freestanding
# headers), which also drives the link. The result is a static, non-PIE ELF with no dynamic
# section for either architecture (.cargo/config.toml sets crt-static and relocation-model).
# `scripts/image.sh` checks the same binary without a Docker engine, and (KWAIT_IMAGE_DOCKERFILE=1,
# as CI runs it) builds this file with buildah for both platforms on stand-in base images.

ARG RUST_VERSION=1

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
# build.rs reads the commit from git, but .git is not in the build context (.dockerignore).
ARG KWAIT_COMMIT=unknown
WORKDIR /src

# The C compiler for the target; the build machine's own gcc already covers its own arch.
RUN set -eux; \
    case "$TARGETARCH" in \
      amd64) triple=x86_64-unknown-linux-musl;  gnu=x86_64-linux-gnu;  pkg=gcc-x86-64-linux-gnu ;; \
      arm64) triple=aarch64-unknown-linux-musl; gnu=aarch64-linux-gnu; pkg=gcc-aarch64-linux-gnu ;; \
      *) echo "kwait: unsupported TARGETARCH '$TARGETARCH' (amd64, arm64)" >&2; exit 1 ;; \
    esac; \
    if ! command -v "$gnu-gcc" >/dev/null; then \
      apt-get update; \
      apt-get install -y --no-install-recommends "$pkg" "libc6-dev-$TARGETARCH-cross"; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    rustup target add "$triple"; \
    printf '%s\n%s\n' "$triple" "$gnu" > /tmp/target

COPY . .

RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,id=kwait-target-${TARGETARCH},sharing=locked \
    set -eux; \
    triple="$(sed -n 1p /tmp/target)"; gnu="$(sed -n 2p /tmp/target)"; \
    var="$(echo "$triple" | tr 'a-z-' 'A-Z_')"; \
    export "CC_$(echo "$triple" | tr - _)=$gnu-gcc" "CARGO_TARGET_${var}_LINKER=$gnu-gcc"; \
    KWAIT_COMMIT="$KWAIT_COMMIT" cargo build --release --locked --target "$triple" --bin kwait; \
    mkdir -p /out; \
    cp "target/$triple/release/kwait" /out/kwait; \
    /out/kwait --version 2>/dev/null || true

FROM gcr.io/distroless/static-debian12:nonroot
ARG KWAIT_COMMIT=unknown
ARG KWAIT_VERSION=0.1.0
LABEL org.opencontainers.image.title="kwait" \
      org.opencontainers.image.description="Wait until a Kubernetes dependency (Secret, Certificate, Job, HTTP, TCP) is really ready, and say why when it is not" \
      org.opencontainers.image.version="${KWAIT_VERSION}" \
      org.opencontainers.image.revision="${KWAIT_COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build --chown=0:0 --chmod=0755 /out/kwait /kwait
# distroless "nonroot": uid/gid 65532, CA bundle at /etc/ssl/certs/ca-certificates.crt.
# kwait writes nothing, so readOnlyRootFilesystem: true needs no volume.
USER 65532:65532
ENTRYPOINT ["/kwait"]
