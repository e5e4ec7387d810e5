#!/usr/bin/env bash
# The GPU path, in one prepared script (issue 12). On a machine with a GPU:
#   bash scripts/gpu-probe.sh            # or, from a session: run(command="bash scripts/gpu-probe.sh", ...)
# It reports the GPU, its driver, the Vulkan loader and ICDs, and the CUDA libraries
# present; runs first what CI already runs on Mesa's lavapipe (issue 29): the WebGPU suite
# (test/webgpu: CPU parity for both architectures, serve, batch, image prompts) and
# `bench:webgpu --placement` (bytes per step with the KV cache from JS vs kept on the
# device, node placement per graph), so the GPU checks a path already tested; then tries `tessera generate --device webgpu` and, when onnxruntime-node's CUDA
# provider library is installed, `--device cuda`; and for every device that works runs
# the performance bench (bench:perf) beside the CPU figures, for the shipped model and,
# when TESSERA_MINI_PACKAGE and TESSERA_MINI_WEIGHTS name them, a Mini-shaped package.
# Everything goes to stdout and to $OUT/gpu-probe (or out/gpu-probe when OUT is unset).
# A Vulkan loader brought along with the working tree (.gpu/vulkan/libvulkan.so.1, e.g.
# copied from Debian's libvulkan1) is used when the machine has none.
set -u
cd "$(dirname "$0")/.."
dest="${OUT:-out}/gpu-probe"
mkdir -p "$dest"
log="$dest/probe.txt"
exec > >(tee "$log") 2>&1
say() { printf '\n== %s\n' "$*"; }

say "machine"
date -u; uname -a; nproc; free -g | head -2; uptime
node --version

say "GPU and driver"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  nvidia-smi | head -5
else
  echo "nvidia-smi: not found"
fi
ls -l /dev/nvidia* /dev/dri 2>&1 | head -20

say "Vulkan loader and ICDs"
for dir in /usr/share/vulkan/icd.d /etc/vulkan/icd.d; do
  echo "$dir:"; ls -l "$dir" 2>&1; for f in "$dir"/*.json; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
done
ldconfig -p | grep -E 'libvulkan|libGLX_nvidia|libnvidia-glvkspirv' || echo "no Vulkan loader / NVIDIA Vulkan driver libraries in the linker cache"
if ! ldconfig -p | grep -q 'libvulkan.so.1' && [ -f .gpu/vulkan/libvulkan.so.1 ]; then
  export LD_LIBRARY_PATH="$PWD/.gpu/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "using the Vulkan loader brought along: .gpu/vulkan/libvulkan.so.1"
fi
if [ ! -f /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ ! -f /etc/vulkan/icd.d/nvidia_icd.json ] && ldconfig -p | grep -q libGLX_nvidia.so.0; then
  # The NVIDIA driver ships its Vulkan ICD inside libGLX_nvidia; containers often lack the manifest.
  mkdir -p .gpu/vulkan/icd.d
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3"}}\n' > .gpu/vulkan/icd.d/nvidia_icd.json
  export VK_ICD_FILENAMES="$PWD/.gpu/vulkan/icd.d/nvidia_icd.json"
  echo "wrote an NVIDIA ICD manifest: $VK_ICD_FILENAMES"
fi

say "CUDA libraries"
ldconfig -p | grep -E 'libcudart|libcublas\.|libcublasLt|libcudnn\.|libcufft' || echo "none in the linker cache"
ls -d /usr/local/cuda* 2>/dev/null
/usr/bin/python3 - <<'PY' 2>/dev/null || echo "python3: no torch"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
PY
ort_bin=$(ls -d node_modules/onnxruntime-node/bin/napi-v*/linux/x64 2>/dev/null | head -1)
echo "onnxruntime-node binaries ($ort_bin):"; ls "$ort_bin"
cuda_provider=no
[ -f "$ort_bin/libonnxruntime_providers_cuda.so" ] && cuda_provider=yes
echo "CUDA provider library present: $cuda_provider (onnxruntime-node 1.30 is built for CUDA 12 + cuDNN 9; ONNXRUNTIME_NODE_INSTALL=cuda12 fetches it, with network)"

say "WebGPU suite (test/webgpu, as in CI on lavapipe; here on this machine's adapter)"
timeout 400 npx vitest run test/webgpu test/generator/device-kv.test.ts test/model/webgpu-device.test.ts 2>&1 | grep -v 'artificially reduced' | tail -40 || echo "WebGPU suite failed or timed out"
say "bench:webgpu: bytes per step, KV cache from JS vs on the device; node placement"
timeout 300 node --import tsx bench/webgpu.bench.ts --placement 2>&1 | grep -v 'artificially reduced' || echo "bench:webgpu failed or timed out"
if [ -n "${TESSERA_MINI_PACKAGE:-}" ] && [ -d "$TESSERA_MINI_PACKAGE" ]; then
  timeout 600 node --import tsx bench/webgpu/placement.ts "$TESSERA_MINI_PACKAGE" 2>&1 | grep -v 'artificially reduced' || echo "placement failed (Mini)"
fi

devices=(webgpu)
[ "$cuda_provider" = yes ] && devices+=(cuda)
working=()
for device in "${devices[@]}"; do
  say "tessera generate --device $device"
  if timeout 300 node --import tsx src/cli/main.ts generate "a small red star left of a large blue circle on a white background" \
      --device "$device" --candidates 32 --seed 7 --no-rerank --json --quiet --out "$dest/images-$device" > "$dest/generate-$device.json"; then
    echo "ok: $(node -e 'const j=require(process.argv[1]);console.log(JSON.stringify(j.timings))' "$PWD/$dest/generate-$device.json")"
    working+=("$device")
  else
    echo "failed (exit $?); see above"
  fi
done

say "bench beside the CPU figures"
for device in cpu "${working[@]}"; do
  echo "--- $device, shipped model"
  timeout 600 node --import tsx bench/perf.bench.ts --device "$device" --only torch,ceiling --rounds 2 --candidates 32,128,512 || echo "bench failed on $device"
  if [ -n "${TESSERA_MINI_PACKAGE:-}" ] && [ -d "$TESSERA_MINI_PACKAGE" ]; then
    echo "--- $device, Mini-shaped package $TESSERA_MINI_PACKAGE"
    timeout 600 node --import tsx bench/perf.bench.ts --device "$device" --only mini --rounds 1 --mini-candidates 32 || echo "bench failed on $device (Mini)"
  fi
done
say "done: working devices: cpu ${working[*]}"
