#!/usr/bin/env bash
# Builds the local stand-in for the mail catcher's image (compose/mailcatcher.yml)
# without any registry: mailpit is built statically from the Go module proxy
# and copied into an image FROM scratch.
#
#   bash compose/mailcatcher/build.sh [tag]      (default hcw/mailpit:v1.33.1-local)
#
# The binary is cached where the backend's mail tests keep theirs
# (backend/internal/mail/mailtest: os.UserCacheDir()/hcw/mailpit-<version>/),
# so it is built once per machine (about 35 s on two cores); after that the
# image build is a few seconds, and Docker's cache makes it nearly free.
set -euo pipefail

VERSION=v1.33.1
TAG=${1:-hcw/mailpit:${VERSION}-local}
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/hcw/mailpit-$VERSION
bin=$cache/mailpit

# A usable binary is mailpit at $VERSION built without cgo (it runs FROM
# scratch). Anything else in the cache is rebuilt.
usable() {
	[[ -x $1 ]] || return 1
	local info
	info=$(go version -m "$1" 2>/dev/null) || return 1
	grep -qE "^[[:space:]]+mod[[:space:]]+github.com/axllent/mailpit[[:space:]]+$VERSION[[:space:]]" <<<"$info" &&
		grep -qE '^[[:space:]]+build[[:space:]]+CGO_ENABLED=0$' <<<"$info"
}

if ! usable "$bin"; then
	echo "mailcatcher: building mailpit $VERSION into $cache" >&2
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/build-XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	start=$SECONDS
	# Outside any module or workspace: the repository's go.work plays no part.
	(cd "$tmp" && GOBIN=$tmp GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
		go install -trimpath "github.com/axllent/mailpit@$VERSION")
	usable "$tmp/mailpit" || { echo "mailcatcher: the built binary is not a static mailpit $VERSION" >&2; exit 1; }
	mv -f "$tmp/mailpit" "$bin"
	echo "mailcatcher: built in $((SECONDS - start)) s" >&2
fi

# The build context: the binary and an empty, world-writable /tmp (scratch
# has none). Hard-linked when possible, so nothing large is copied.
ctx=$(mktemp -d "$cache/context-XXXXXX")
trap 'rm -rf "$ctx" ${tmp:+"$tmp"}' EXIT
mkdir -p "$ctx/rootfs/tmp"
chmod 1777 "$ctx/rootfs/tmp"
ln "$bin" "$ctx/rootfs/mailpit" 2>/dev/null || cp "$bin" "$ctx/rootfs/mailpit"
cp "$here/Dockerfile" "$ctx/Dockerfile"
docker build --quiet --label "org.opencontainers.image.version=$VERSION" -t "$TAG" "$ctx" >/dev/null
echo "mailcatcher: image $TAG" >&2
