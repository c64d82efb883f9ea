#!/usr/bin/env bash
# Regenerates Sources/NSMAPI (messages) and Sources/NSMAPIGRPC (service stubs) from proto/
# with protoc, protoc-gen-swift and protoc-gen-grpc-swift-2. The output is committed; run this
# only after editing proto/. Messages and stubs are two modules so that code which only needs
# the messages (the core, the stores) does not link gRPC.
#
# The plugins are built once (about two minutes) from grpc-swift-protobuf into a cache
# folder, or taken from PROTOC_GEN_SWIFT / PROTOC_GEN_GRPC_SWIFT when set.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPC_SWIFT_PROTOBUF_VERSION=2.4.1
cache="${XDG_CACHE_HOME:-$HOME/.cache}/swift-nsm/protoc-plugins-$GRPC_SWIFT_PROTOBUF_VERSION"

command -v protoc >/dev/null || { echo "protoc missing: run scripts/bootstrap.sh" >&2; exit 1; }

if [[ -z "${PROTOC_GEN_SWIFT:-}" || -z "${PROTOC_GEN_GRPC_SWIFT:-}" ]]; then
  if [[ ! -x "$cache/bin/protoc-gen-swift" || ! -x "$cache/bin/protoc-gen-grpc-swift-2" ]]; then
    echo "building protoc plugins into $cache" >&2
    mkdir -p "$cache"
    [[ -d "$cache/src" ]] || git clone --quiet https://github.com/grpc/grpc-swift-protobuf.git "$cache/src"
    git -C "$cache/src" checkout --quiet "$GRPC_SWIFT_PROTOBUF_VERSION"
    (cd "$cache/src" && swift build -c release --product protoc-gen-grpc-swift-2 >&2 \
      && swift build -c release --product protoc-gen-swift >&2)
    mkdir -p "$cache/bin"
    bin=$(cd "$cache/src" && swift build -c release --show-bin-path)
    cp "$bin/protoc-gen-swift" "$bin/protoc-gen-grpc-swift-2" "$cache/bin/"
  fi
  PROTOC_GEN_SWIFT="$cache/bin/protoc-gen-swift"
  PROTOC_GEN_GRPC_SWIFT="$cache/bin/protoc-gen-grpc-swift-2"
fi

messages=Sources/NSMAPI/Generated
stubs=Sources/NSMAPIGRPC/Generated
rm -rf "$messages" "$stubs"
mkdir -p "$messages" "$stubs"
protoc --proto_path=proto \
  --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" \
  --swift_out="$messages" --swift_opt=Visibility=Public,FileNaming=DropPath \
  proto/*.proto
protoc --proto_path=proto \
  --plugin=protoc-gen-grpc-swift="$PROTOC_GEN_GRPC_SWIFT" \
  --grpc-swift_out="$stubs" \
  --grpc-swift_opt=Visibility=Public,Server=true,Client=true,FileNaming=DropPath,ExtraModuleImports=NSMAPI \
  proto/*.proto
echo "generated $(ls "$messages" | wc -l) message files in $messages, $(ls "$stubs" | wc -l) stub files in $stubs" >&2
