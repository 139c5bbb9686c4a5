# syntax=docker/dockerfile:1
#
# TaskRunner container images: two targets from one Dockerfile.
#
#   docker build -t taskrunner .                                    # the service (default, last stage)
#   docker build --target migrator -t taskrunner-migrator .         # the database migrator
#
#   # arm64 (build on an arm64 builder; see "Architectures" below):
#   docker buildx build --platform linux/arm64 -t taskrunner:arm64 .
#
# * service  - the Native AOT binary on runtime-deps:10.0-noble-chiseled (no .NET runtime,
#              no shell, no package manager), running as the image's non-root user (UID 1654).
# * migrator - the FluentMigrator console app (JIT, framework-dependent; FluentMigrator is not
#              AOT/trim-clean) on runtime:10.0-noble-chiseled. Runs `up` by default.
#
# Builds with Docker BuildKit (the default builder since Docker 23) and with buildah/podman:
# deploy/image-test.sh builds both targets with buildah from local stand-ins of the base images
# and runs them (see docs/deployment.md). Plain `COPY --from` on purpose: buildah does not know
# `COPY --link`.
#
# Architectures: the AOT stage runs on the *target* platform, because Native AOT links with
# the target's native toolchain (clang + target libc). Build linux/arm64 on an arm64 builder
# (native buildx node or arm64 CI runner); emulated (QEMU) .NET SDK builds are slow and are
# not supported by the .NET team. Cross-compiling AOT from x64 needs a cross toolchain and
# target sysroot, which this file deliberately does not set up.

# Base images, overridable to pin a patch version or a digest, e.g.
#   --build-arg SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0@sha256:...
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_DEPS_IMAGE=mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/runtime:10.0-noble-chiseled


# ---------------------------------------------------------------------------------------------
# build: Native AOT publish of the service
# ---------------------------------------------------------------------------------------------
FROM ${SDK_IMAGE} AS build

# Native AOT prerequisites on Ubuntu: clang (the platform linker; it also pulls in binutils,
# whose objcopy strips the symbols into the separate .dbg file) and zlib1g-dev. Node.js and npm
# build the dashboard (web/) that is published beside the binary as wwwroot/.
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang zlib1g-dev nodejs npm \
    && rm -rf /var/lib/apt/lists/*

# TARGETARCH is set by BuildKit from --platform (amd64 | arm64); buildah 1.28 leaves it unset
# unless given (deploy/image-test.sh passes it). RID may be given explicitly
# (--build-arg RID=linux-arm64) but must match the platform being built: the binary is
# native code and runs only on the architecture of the image it is copied into.
ARG TARGETARCH
ARG RID=
RUN set -eu; \
    arch="${TARGETARCH:-amd64}"; \
    rid="${RID}"; \
    if [ -z "$rid" ]; then \
        case "$arch" in \
            amd64) rid=linux-x64 ;; \
            arm64) rid=linux-arm64 ;; \
            *) echo "unsupported TARGETARCH '$arch' (amd64 or arm64)" >&2; exit 1 ;; \
        esac; \
    fi; \
    case "$rid" in \
        linux-x64) want=amd64 ;; \
        linux-arm64) want=arm64 ;; \
        *) echo "unsupported RID '$rid' (linux-x64 or linux-arm64; the chiseled images are glibc)" >&2; exit 1 ;; \
    esac; \
    if [ "$want" != "$arch" ]; then \
        echo "RID '$rid' does not match the target platform '$arch'" >&2; exit 1; \
    fi; \
    echo "$rid" > /tmp/rid; \
    echo "publishing for $rid"

WORKDIR /src

# Restore as its own layer: it is redone only when these files change, not on every source
# edit. The bracket globs (global.jso[n], ...) make each file optional: a glob that matches
# nothing is skipped, while a plain name that is missing fails the build. TaskRunner.csproj
# is a plain name because it must exist. global.json pins the SDK feature band (rollForward
# latestFeature), Directory.Build.props carries shared MSBuild settings (TargetFramework,
# InvariantGlobalization, TreatWarningsAsErrors) that restore and the build both read.
COPY TaskRunner.csproj global.jso[n] Directory.Build.prop[s] Directory.Build.target[s] Directory.Packages.prop[s] [Nn]u[Gg]et.[Cc]onfig ./
# Restore for the same RID as the publish below, so that `--no-restore` finds the AOT
# compiler and runtime packs in the assets file.
RUN dotnet restore TaskRunner.csproj -r "$(cat /tmp/rid)"

# The rest of the sources (.dockerignore keeps out .git, bin/obj, tests, docs, deploy, ...).
COPY . .

# AOT publish. The .dbg symbol file is large and must not reach the image; appsettings for
# Development are for local runs only; global.json is build tooling that the Web SDK copies
# along with every other *.json.
RUN scripts/web.sh \
    && dotnet publish TaskRunner.csproj -c Release -r "$(cat /tmp/rid)" --no-restore -o /out \
    && test -f /out/wwwroot/index.html \
    && find /out -name '*.dbg' -delete \
    && rm -f /out/appsettings.Development.json /out/global.json \
    && test -x /out/TaskRunner


# ---------------------------------------------------------------------------------------------
# migrator-build: framework-dependent publish of the migrator
# ---------------------------------------------------------------------------------------------
# Portable IL with no native app host, so it is built on the build machine's own platform and
# runs unchanged on either architecture's runtime image.
FROM --platform=$BUILDPLATFORM ${SDK_IMAGE} AS migrator-build
WORKDIR /src
# Same layer-caching pattern as above; every root file is optional here.
COPY global.jso[n] Directory.Build.prop[s] Directory.Build.target[s] Directory.Packages.prop[s] [Nn]u[Gg]et.[Cc]onfig ./
COPY migrations/*.csproj migrations/
RUN dotnet restore migrations/TaskRunner.Migrations.csproj
# Whole context, not just migrations/: the migrator compiles files of the service too
# (src/Infrastructure/Security/PasswordHasher.cs, linked from its csproj).
COPY . .
RUN dotnet publish migrations/TaskRunner.Migrations.csproj -c Release --no-restore -o /out \
        -p:UseAppHost=false \
    && find /out -name '*.dbg' -delete \
    && rm -f /out/appsettings.Development.json \
    && test -f /out/TaskRunner.Migrations.dll


# ---------------------------------------------------------------------------------------------
# migrator: docker build --target migrator -t taskrunner-migrator .
# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS migrator
LABEL org.opencontainers.image.title="taskrunner-migrator" \
      org.opencontainers.image.description="TaskRunner database migrations (FluentMigrator)"
WORKDIR /app
COPY --from=migrator-build /out .
# Non-root: APP_UID (1654, user "app") is defined by the .NET base images.
USER $APP_UID
# Reads Database__ConnectionString. Other commands replace the entrypoint, e.g.
#   docker run --rm --entrypoint dotnet -e Database__ConnectionString=... taskrunner-migrator \
#       TaskRunner.Migrations.dll list
ENTRYPOINT ["dotnet", "TaskRunner.Migrations.dll", "up"]


# ---------------------------------------------------------------------------------------------
# service (default target): docker build -t taskrunner .
# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_DEPS_IMAGE} AS service
LABEL org.opencontainers.image.title="taskrunner" \
      org.opencontainers.image.description="TaskRunner HTTP service (Native AOT)"
WORKDIR /app
# Files stay owned by root: the app user can run them but not change them.
COPY --from=build /out .
# The base image already sets this; repeated here so the port is visible in this file.
ENV ASPNETCORE_HTTP_PORTS=8080
EXPOSE 8080
USER $APP_UID
# No HEALTHCHECK: a chiseled image has no shell, curl or wget to run one. Health is checked
# from outside - Kubernetes httpGet probes on /health/live and /health/ready
# (deploy/deployment.yaml).
ENTRYPOINT ["./TaskRunner"]
