#!/usr/bin/env bash
# PolicyKit on a CUDA machine: build with the CUDA TorchSharp runtime, check that the cache path is exact there
# (always-refresh answers token for token what none answers) and print one bench line with a profile.
# Needs: .NET SDK 10, an NVIDIA driver, and nuget.org (the CUDA packages are several GB). See docs/gpu.md.
#
#   tools/gpu/check.sh                 # cuda-linux runtime, device cuda, 20 samples
#   SAMPLES=50 DEVICE=cuda:1 tools/gpu/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNTIME=${TORCHSHARP_RUNTIME:-cuda-linux}
DEVICE=${DEVICE:-cuda}
SAMPLES=${SAMPLES:-20}
OUT=${OUT:-artifacts/gpu}
mkdir -p "$OUT"

echo "== build (TorchSharpRuntime=$RUNTIME)"
.ci/install-libstdcxx.sh
dotnet build src/PolicyKit.Cli/PolicyKit.Cli.csproj -c Release -p:TorchSharpRuntime="$RUNTIME" -o "$OUT/cli" -v q
cli() { dotnet "$OUT/cli/PolicyKit.Cli.dll" "$@"; }

echo "== device"
cli generate --device "$DEVICE" --policy none --gen-length 8 --steps 8 --block-length 8 --prompt "hello" > /dev/null
echo "ok: a forward ran on $DEVICE"

echo "== exactness: always-refresh against none on $DEVICE (transform, $SAMPLES samples)"
cli bench --device "$DEVICE" --policies none,always-refresh --tasks transform --samples "$SAMPLES" --json "$OUT/exact.json"
# bench's agreement is the share of samples whose tokens equal none's: always-refresh must agree on every one.
agreement=$(tr -d ' \n' < "$OUT/exact.json" | grep -o '"policy":"always-refresh"[^}]*"agreement":[0-9.]*' | sed 's/.*"agreement"://')
if [ "$agreement" != "1" ]; then
  echo "FAIL: always-refresh agrees with none on $agreement of the samples on $DEVICE (expected 1)"; exit 1
fi
echo "ok: always-refresh = none on every sample"

echo "== bench (retrieval, batch 1, $SAMPLES samples) with --profile"
cli bench --device "$DEVICE" --policies none,dllm-cache,fast-dllm-dual --tasks retrieval --samples "$SAMPLES" \
  --json "$OUT/bench.json" --profile "$OUT/profile.json"
echo "results in $OUT/"
