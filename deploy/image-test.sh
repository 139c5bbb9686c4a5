#!/usr/bin/env bash
# The container images, built from the Dockerfile and run here, end to end. Slow (an AOT publish inside the build, a few
# minutes on 2 cores), so it is NOT part of `make test`; run it after changing the Dockerfile, the manifests' security
# settings or anything the image must carry.
#
#   1. tools: podman, buildah, debootstrap and runc from Debian's packages (installed when missing)
#   2. local stand-ins for the Dockerfile's base images, which cannot be pulled on a machine that reaches only package
#      registries: a Debian root file system (debootstrap, minimal variant) plus the .NET SDK installed on this machine
#      (sdk); the same files a chiseled runtime-deps image carries - C library, OpenSSL, CA certificates, the `app`
#      user 1654 - and nothing else: no shell, no package manager (runtime-deps); runtime-deps plus this machine's
#      .NET runtime (runtime)
#   3. buildah builds the Dockerfile's targets `migrator` and `service`, unchanged, with those bases as build arguments
#   4. a private PostgreSQL (scripts/pg.sh start image-test) with a fresh database; the migrator container migrates it
#   5. the service container, locked down like deploy/deployment.yaml (read-only root file system, UID 1654, every
#      capability dropped, no new privileges, the manifest's memory limit): start -> ready, a real request (log in as
#      the bootstrap admin, create a project and a task, read the task back), idle RSS, then SIGTERM: readiness 503
#      while draining, the process exits 0
#   6. a summary: image sizes, start -> ready, idle RSS, drain
#
# Usage: deploy/image-test.sh
# Environment: TASKRUNNER_DATA_DIR (default <repo>/.data) holds the cached root file system; IMAGE_TAG (default
# "local") tags the two images; KEEP_RUNNING=1 leaves PostgreSQL running at the end; TASKRUNNER_TEST_PG (an Npgsql
# connection string, as `make test` uses it) runs against that server instead of a private one, where the database
# taskrunner_image_test stays for inspection.
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DATA_ROOT="${TASKRUNNER_DATA_DIR:-$ROOT/.data}"
CACHE="$DATA_ROOT/image-test"
ROOTFS="$CACHE/rootfs-bookworm"
IMAGE_TAG="${IMAGE_TAG:-local}"
PG_INSTANCE=image-test
DATABASE=taskrunner_image_test
SERVICE_IMAGE="localhost/taskrunner:$IMAGE_TAG"
MIGRATOR_IMAGE="localhost/taskrunner-migrator:$IMAGE_TAG"
SDK_BASE=localhost/taskrunner-base/sdk:10.0
RUNTIME_DEPS_BASE=localhost/taskrunner-base/runtime-deps:10.0
RUNTIME_BASE=localhost/taskrunner-base/runtime:10.0
APP_UID=1654
# deploy/deployment.yaml's limit for the service container, so the GC sizes its heap the way it will in the cluster.
MEMORY_LIMIT=256m
# deploy/configmap.yaml's Attachments__FileSystemPath, where deploy/deployment.yaml mounts the attachments volume.
ATTACHMENTS_PATH=/var/lib/taskrunner/attachments
ADMIN_EMAIL=admin@image-test.local
ADMIN_PASSWORD=image-test-password
CONTAINER="taskrunner-image-test-$$"

log() { printf '\n==> %s\n' "$*"; }
die() {
    printf 'image-test: %s\n' "$*" >&2
    exit 1
}
now_ms() { date +%s%3N; }

# Container runtime flags for this kind of machine: crun refuses the hybrid cgroup layout (v1 controllers beside an
# empty v2 hierarchy) these machines have, runc accepts it; podman's default open-files limit (1048576) is above the
# hard limit allowed here, so the host's own is passed down; processes stay at buildah's default 32768 (or the host's
# limit if lower).
NPROC_LIMIT=$(($(ulimit -Hu) < 32768 ? $(ulimit -Hu) : 32768))
RUNTIME_FLAGS=(--runtime runc --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$NPROC_LIMIT:$NPROC_LIMIT")

install_tools() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v buildah >/dev/null || missing+=(buildah)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v runc >/dev/null || missing+=(runc)
    command -v curl >/dev/null || missing+=(curl)
    command -v jq >/dev/null || missing+=(jq)
    ((${#missing[@]} == 0)) && return
    log "installing ${missing[*]} (Debian packages)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" fuse-overlayfs slirp4netns uidmap
}

image_exists() { podman image exists "$1"; }

# The Debian mirror this machine's apt already uses (the only package source reachable), for debootstrap.
debian_mirror() {
    local codename
    codename="$(. /etc/os-release && printf '%s' "$VERSION_CODENAME")"
    apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk -v release="$codename" '$2 == release { print $1; exit }'
}

make_rootfs() {
    [[ -f $ROOTFS/.complete ]] && return
    log "Debian root file system (debootstrap --variant=minbase, a few minutes, cached in $ROOTFS)"
    rm -rf "$ROOTFS"
    mkdir -p "$CACHE"
    local mirror
    mirror="$(debian_mirror)"
    [[ -n $mirror ]] || die "no Debian bookworm source in this machine's apt configuration"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOTFS" "$mirror"
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    touch "$ROOTFS/.complete"
}

dotnet_root() { dirname "$(readlink -f "$(command -v dotnet)")"; }

# The SDK stand-in: the Debian root file system (apt works in it, so the build stage's `apt-get install clang
# zlib1g-dev` runs as written) with this machine's .NET SDK.
make_sdk_base() {
    image_exists "$SDK_BASE" && return
    log "base image $SDK_BASE"
    local container mount dotnet
    dotnet="$(dotnet_root)"
    container="$(buildah from scratch)"
    mount="$(buildah mount "$container")"
    cp -a "$ROOTFS/." "$mount/"
    rm -f "$mount/.complete"
    mkdir -p "$mount/usr/share/dotnet"
    cp -a "$dotnet/." "$mount/usr/share/dotnet/"
    ln -sf /usr/share/dotnet/dotnet "$mount/usr/bin/dotnet"
    # The build machine's own trust store, so restore reaches NuGet through whatever TLS proxy this machine trusts.
    cp -a /etc/ssl/certs/. "$mount/etc/ssl/certs/"
    buildah umount "$container" >/dev/null
    # Certificate revocation servers are out of reach here; NuGet would wait on them for every package it verifies.
    buildah config --env DOTNET_ROOT=/usr/share/dotnet --env DOTNET_NOLOGO=1 --env DOTNET_CLI_TELEMETRY_OPTOUT=1 \
        --env DOTNET_RUNNING_IN_CONTAINER=true --env NUGET_CERT_REVOCATION_MODE=offline "$container"
    buildah commit --rm "$container" "$SDK_BASE" >/dev/null
}

# Copies the files of Debian packages from the root file system into an image, each to its real place (the root file
# system has merged /usr: /lib is a link to /usr/lib), without documentation.
copy_package_files() { # <destination> <package>...
    local destination=$1 path directory
    shift
    dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -L "$@" | grep '^/' | grep -Ev '^/usr/share/(doc|man|lintian|locale)/' |
        while IFS= read -r path; do
            [[ -d $ROOTFS$path && ! -L $ROOTFS$path ]] && continue
            [[ -e $ROOTFS$path || -L $ROOTFS$path ]] || continue
            directory="$(cd "$ROOTFS$(dirname "$path")" && pwd -P)"
            directory="${directory#"$ROOTFS"}"
            mkdir -p "$destination$directory"
            cp -a "$ROOTFS$path" "$destination$directory/"
        done
}

# The runtime-deps stand-in, cut the way Ubuntu's chiseled images are: the C and C++ runtime libraries, OpenSSL, the
# CA certificates, os-release, /etc/passwd with root and app (1654), a world-writable /tmp. No shell, no coreutils, no
# package manager, no tzdata, no ICU.
make_runtime_deps_base() {
    image_exists "$RUNTIME_DEPS_BASE" && return
    log "base image $RUNTIME_DEPS_BASE (chiseled equivalent)"
    local container mount
    container="$(buildah from scratch)"
    mount="$(buildah mount "$container")"
    mkdir -p "$mount"/usr/{bin,sbin,lib,lib64} "$mount"/{etc,tmp,root,home/app}
    ln -s usr/bin "$mount/bin"
    ln -s usr/sbin "$mount/sbin"
    ln -s usr/lib "$mount/lib"
    ln -s usr/lib64 "$mount/lib64"
    chmod 1777 "$mount/tmp"
    copy_package_files "$mount" libc6 libgcc-s1 libstdc++6 libssl3 zlib1g ca-certificates
    cp -a "$ROOTFS/etc/ssl" "$mount/etc/"
    cp -a "$ROOTFS/usr/lib/ssl" "$mount/usr/lib/"
    cp -a "$ROOTFS/etc/os-release" "$mount/etc/" 2>/dev/null || true
    cp -a "$ROOTFS/usr/lib/os-release" "$mount/usr/lib/"
    printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:%s:%s::/home/app:/sbin/nologin\n' "$APP_UID" "$APP_UID" >"$mount/etc/passwd"
    printf 'root:x:0:\napp:x:%s:\n' "$APP_UID" >"$mount/etc/group"
    chown "$APP_UID:$APP_UID" "$mount/home/app"
    buildah umount "$container" >/dev/null
    # The variables the .NET base images set.
    buildah config --env APP_UID="$APP_UID" --env ASPNETCORE_HTTP_PORTS=8080 --env DOTNET_RUNNING_IN_CONTAINER=true \
        "$container"
    buildah commit --rm "$container" "$RUNTIME_DEPS_BASE" >/dev/null
}

# The runtime stand-in: runtime-deps plus the dotnet host and Microsoft.NETCore.App from this machine's install.
make_runtime_base() {
    image_exists "$RUNTIME_BASE" && return
    log "base image $RUNTIME_BASE"
    local container mount dotnet version
    dotnet="$(dotnet_root)"
    version="$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2 } END { print v }')"
    [[ -n $version ]] || die "no Microsoft.NETCore.App runtime in $dotnet"
    container="$(buildah from "$RUNTIME_DEPS_BASE")"
    mount="$(buildah mount "$container")"
    mkdir -p "$mount/usr/share/dotnet/shared/Microsoft.NETCore.App"
    cp -a "$dotnet/dotnet" "$dotnet/host" "$dotnet/LICENSE.txt" "$mount/usr/share/dotnet/"
    cp -a "$dotnet/shared/Microsoft.NETCore.App/$version" "$mount/usr/share/dotnet/shared/Microsoft.NETCore.App/"
    ln -s /usr/share/dotnet/dotnet "$mount/usr/bin/dotnet"
    buildah umount "$container" >/dev/null
    buildah config --env DOTNET_VERSION="$version" "$container"
    buildah commit --rm "$container" "$RUNTIME_BASE" >/dev/null
}

build_images() {
    local common=(
        "${RUNTIME_FLAGS[@]}" --network host --layers
        # The host's NuGet cache: restore inside the build finds what this machine already downloaded.
        --volume "${NUGET_PACKAGES:-$HOME/.nuget/packages}:/root/.nuget/packages"
        --build-arg "SDK_IMAGE=$SDK_BASE" --build-arg "RUNTIME_DEPS_IMAGE=$RUNTIME_DEPS_BASE"
        --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE" --build-arg "TARGETARCH=$(dpkg --print-architecture)"
        --file "$ROOT/Dockerfile"
    )
    mkdir -p "${NUGET_PACKAGES:-$HOME/.nuget/packages}"
    log "buildah: target migrator -> $MIGRATOR_IMAGE"
    buildah bud "${common[@]}" --target migrator --tag "$MIGRATOR_IMAGE" "$ROOT"
    log "buildah: target service -> $SERVICE_IMAGE (Native AOT publish inside, a few minutes)"
    buildah bud "${common[@]}" --tag "$SERVICE_IMAGE" "$ROOT"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cleanup() {
    podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
    [[ ${KEEP_RUNNING:-} == 1 || -n ${TASKRUNNER_TEST_PG:-} ]] || "$ROOT/scripts/pg.sh" stop "$PG_INSTANCE" >/dev/null 2>&1 || true
}

# The value of one key of an Npgsql connection string ("Host=...;Port=...").
connection_value() { tr ';' '\n' <<<"$1" | awk -F= -v key="$2" 'tolower($1) == tolower(key) { print $2; exit }'; }

# A fresh database on the private PostgreSQL, or on TASKRUNNER_TEST_PG's server; prints its connection string.
create_database() {
    if [[ -z ${TASKRUNNER_TEST_PG:-} ]]; then
        "$ROOT/scripts/pg.sh" start "$PG_INSTANCE" >&2
        "$ROOT/scripts/pg.sh" -i "$PG_INSTANCE" psql -qc "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" -c "CREATE DATABASE $DATABASE" >&2
        "$ROOT/scripts/pg.sh" connstr "$DATABASE" "$PG_INSTANCE"
        return
    fi
    PGPASSWORD="$(connection_value "$TASKRUNNER_TEST_PG" Password)" psql -q \
        -h "$(connection_value "$TASKRUNNER_TEST_PG" Host)" -p "$(connection_value "$TASKRUNNER_TEST_PG" Port)" \
        -U "$(connection_value "$TASKRUNNER_TEST_PG" Username)" -d postgres \
        -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" -c "CREATE DATABASE $DATABASE" >&2
    sed -E "s/(^|;)Database=[^;]*/\1Database=$DATABASE/I" <<<"$TASKRUNNER_TEST_PG"
}

http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" || true; }

# Sends a JSON request and prints the body; fails unless the status is the expected one.
api() { # <expected status> <method> <path> [body] [bearer token]
    local expected=$1 method=$2 path=$3 body=${4:-} token=${5:-} output status
    local arguments=(-s --max-time 10 -X "$method" -H 'Content-Type: application/json' -w '\n%{http_code}')
    [[ -n $body ]] && arguments+=(--data "$body")
    [[ -n $token ]] && arguments+=(-H "Authorization: Bearer $token")
    output="$(curl "${arguments[@]}" "$BASE_URL$path")"
    status="${output##*$'\n'}"
    [[ $status == "$expected" ]] || die "$method $path answered $status, expected $expected: ${output%$'\n'*}"
    printf '%s' "${output%$'\n'*}"
}

run_containers() {
    log "a fresh database $DATABASE on the PostgreSQL of TASKRUNNER_TEST_PG, or else the private one ($PG_INSTANCE)"
    local connection
    connection="$(create_database)"

    # Locked down like the pods in deploy/: read-only root (podman mounts a tmpfs on /tmp, the manifests an emptyDir),
    # the image's non-root user, no capabilities, no privilege escalation. The service also gets a writable attachment
    # store where the manifests mount their volume (it would refuse to start without one: the image's /app is read-only).
    local locked_down=("${RUNTIME_FLAGS[@]}" --network host --read-only --cap-drop ALL --security-opt no-new-privileges)

    log "migrator container: up"
    podman run --rm "${locked_down[@]}" -e "Database__ConnectionString=$connection" "$MIGRATOR_IMAGE"

    local port
    port="$(free_port)"
    BASE_URL="http://127.0.0.1:$port"
    log "service container on $BASE_URL"
    podman create --name "$CONTAINER" "${locked_down[@]}" --memory "$MEMORY_LIMIT" \
        -e "ASPNETCORE_HTTP_PORTS=$port" -e "Database__ConnectionString=$connection" \
        -e Auth__JwtActiveKeyId=k1 -e "Auth__JwtSigningKeys__k1=$(head -c 32 /dev/urandom | base64)" \
        -e "Cursors__SigningKey=$(head -c 32 /dev/urandom | base64)" \
        -e Webhooks__SecretEncryptionKeyId=k1 -e "Webhooks__SecretEncryptionKeys__k1=$(head -c 32 /dev/urandom | base64)" \
        -e Auth__RegistrationEnabled=false -e "Auth__BootstrapAdminEmail=$ADMIN_EMAIL" \
        -e "Auth__BootstrapAdminPassword=$ADMIN_PASSWORD" -e Shutdown__DrainDelaySeconds=5 \
        --mount "type=tmpfs,destination=$ATTACHMENTS_PATH,tmpfs-size=16m,chown=true" \
        -e "Attachments__FileSystemPath=$ATTACHMENTS_PATH" \
        "$SERVICE_IMAGE" >/dev/null

    local started ready_ms
    started=$(now_ms)
    podman start "$CONTAINER" >/dev/null
    until [[ $(http_status "$BASE_URL/health/ready") == 200 ]]; do
        podman container exists "$CONTAINER" && [[ $(podman inspect -f '{{.State.Running}}' "$CONTAINER") == true ]] ||
            { podman logs "$CONTAINER" >&2; die "the service container stopped before it was ready"; }
        (($(now_ms) - started < 30000)) || { podman logs "$CONTAINER" >&2; die "not ready within 30 s"; }
        sleep 0.02
    done
    ready_ms=$(($(now_ms) - started))
    printf 'ready %s ms after `podman start`\n' "$ready_ms"

    log "a request through the database: log in, create a project and a task, read the task back"
    local token="" project task title login_started
    # The bootstrap admin is created by a background loop once the process runs, not before readiness.
    login_started=$(now_ms)
    until token="$(api 200 POST /api/v1/auth/login "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" 2>/dev/null |
        jq -r .access_token)" && [[ -n $token ]]; do
        (($(now_ms) - login_started < 20000)) || die "the bootstrap admin could not log in within 20 s"
        sleep 0.2
    done
    project="$(api 201 POST /api/v1/projects '{"name":"image test"}' "$token" | jq -r .id)"
    task="$(api 201 POST /api/v1/tasks "{\"project_id\":\"$project\",\"title\":\"built and run in a container\"}" "$token" | jq -r .id)"
    title="$(api 200 GET "/api/v1/tasks/$task" '' "$token" | jq -r .title)"
    [[ $title == "built and run in a container" ]] || die "GET /api/v1/tasks/$task returned the title '$title'"
    printf 'task %s read back\n' "$task"

    log "idle RSS (10 s after the request)"
    sleep 10
    local pid rss_kb cgroup_usage
    pid="$(podman inspect -f '{{.State.Pid}}' "$CONTAINER")"
    rss_kb="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")"
    cgroup_usage="$(podman stats --no-stream --format '{{.MemUsage}}' "$CONTAINER" 2>/dev/null || echo 'n/a')"
    printf 'process RSS %s MiB; container memory (cgroup) %s\n' "$((rss_kb / 1024))" "$cgroup_usage"

    log "SIGTERM: readiness turns 503 at once, the process drains and exits 0"
    local term_at draining exit_code drained_ms
    term_at=$(now_ms)
    podman kill --signal TERM "$CONTAINER" >/dev/null
    draining=""
    while [[ $(podman inspect -f '{{.State.Running}}' "$CONTAINER") == true ]]; do
        if [[ -z $draining && $(http_status "$BASE_URL/health/ready") == 503 ]]; then
            # Still serving while it drains: the endpoint removal has not reached every load balancer yet.
            [[ $(http_status "$BASE_URL/health/live") == 200 ]] || die "liveness failed while draining"
            draining="$(($(now_ms) - term_at))"
        fi
        (($(now_ms) - term_at < 60000)) || die "still running 60 s after SIGTERM"
        sleep 0.05
    done
    exit_code="$(podman wait "$CONTAINER")"
    drained_ms=$(($(now_ms) - term_at))
    [[ -n $draining ]] || die "readiness never answered 503 between SIGTERM and exit"
    [[ $exit_code == 0 ]] || { podman logs "$CONTAINER" >&2; die "exit code $exit_code after SIGTERM"; }
    printf 'readiness 503 after %s ms; exited 0 after %s ms (drain delay 5 s)\n' "$draining" "$drained_ms"

    SUMMARY_READY_MS=$ready_ms
    SUMMARY_RSS_MIB=$((rss_kb / 1024))
    SUMMARY_CGROUP=$cgroup_usage
    SUMMARY_DRAIN_MS=$drained_ms
}

image_size_mb() { podman image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.1f", $1 / 1000000 }'; }

# What a registry stores and a node pulls: the layers, gzipped.
compressed_size_mb() { podman image save --format docker-archive "$1" 2>/dev/null | gzip -6 | wc -c | awk '{ printf "%.1f", $1 / 1000000 }'; }

summary() {
    log "summary (size on disk, and gzipped as a registry stores it)"
    local image
    for image in "$SERVICE_IMAGE" "$RUNTIME_DEPS_BASE" "$MIGRATOR_IMAGE" "$RUNTIME_BASE"; do
        printf '%-44s %8s MB %8s MB gzipped\n' "$image" "$(image_size_mb "$image")" "$(compressed_size_mb "$image")"
    done
    printf 'start -> ready %s ms; idle RSS %s MiB (cgroup: %s); SIGTERM -> exit 0 in %s ms\n' \
        "$SUMMARY_READY_MS" "$SUMMARY_RSS_MIB" "$SUMMARY_CGROUP" "$SUMMARY_DRAIN_MS"
}

main() {
    [[ $(id -u) == 0 ]] || die "needs root (podman and buildah run rootful here)"
    trap cleanup EXIT
    install_tools
    make_rootfs
    make_sdk_base
    make_runtime_deps_base
    make_runtime_base
    build_images
    run_containers
    summary
}

main "$@"
