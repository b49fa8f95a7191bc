#!/usr/bin/env bash
# GPU figures for docs/performance.md, for a session that is lent a GPU (H100/H200).
#
#   bash tools/gpu_check.sh [CHECK ...]           on the device machine, repo root,
#                                                 with ../shared/gpu carried as .gpu/
#   GPU_CHECK_SMOKE=1 bash tools/gpu_check.sh     on a CPU: the same commands on a
#                                                 scaled-down model, to test the script
# PYTHON picks the interpreter (default python3: the device machine's, with torch).
#
# CHECKs (default: all, in this order; about 40 s each on an H100 after the ~4.5 min
# mmcv build, so split them over two device calls if the build runs in the first):
#   headline  ours (mask_rcnn_r50_gn_6x_bf16: bf16 autocast, fp32 losses) vs MMDetection's
#             stock scratch config in fp32 (MMDetection's default), no stage timers
#   bf16      the bf16 lever alone: ours bf16 vs ours fp32
#   stages    where the time goes: ours bf16 and stock fp32 with per-stage timers
#   channels_last  ours bf16 NHWC vs NCHW
#   cudnn     ours bf16 with cudnn.benchmark on vs off (off is MMDetection's default)
#   batch     ours bf16 at 8 images per GPU vs 2 (images/s; the loop rescales the LR)
#   polygon   ours bf16 with polygon gt masks (poly2mask=False) vs bitmaps
#   compile   ours bf16 with torch.compile'd backbone+FPN vs eager, at a fixed 1344x800
#   data      the data pipeline per core: coco_instance_fast.py vs stock
# Synthetic COCO-sized inputs (1333x800, 7 instances with masks), 2 images per GPU
# unless the check says otherwise; A and B alternate in blocks of 5 iterations in one
# process, so the ratios hold on a shared machine. JSON files go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-work_dirs/gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
STOCK=mmdet::scratch/mask-rcnn_r50-scratch_fpn_gn-all_6x_coco.py
OURS=configs/scratch/mask_rcnn_r50_gn_6x_bf16.py
OURS_FP32=configs/scratch/mask_rcnn_r50_gn_6x.py

if [ "${GPU_CHECK_SMOKE:-0}" = 1 ]; then
    command -v "$PY" > /dev/null || PY=python
    TRAIN="--device cpu --scale-down --image-size 160 96 --num-instances 2 --warmup 1 --iters 2"
    FIXED="--image-size 160 96"
    DATA="--image-size 320 192 --num-images 2 --warmup 1 --iters 4 --block-iters 2"
else
    if [ ! -f .gpu/setup_device.sh ]; then
        echo "error: .gpu/setup_device.sh not found (cp -r ../shared/gpu .gpu): it installs" \
             "mmcv/mmdet and builds mmcv's CUDA ops" >&2
        exit 2
    fi
    source .gpu/setup_device.sh
    TRAIN="--device cuda --image-size 1333 800 --warmup 10 --iters 20 --block-iters 5"
    FIXED="--image-size 1344 800"
    DATA="--image-size 1333 800 --num-images 16 --warmup 4 --iters 60 --block-iters 5"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt"
    cat "$OUT/gpu.txt" >&2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

bench() {  # bench NAME ARGS...: one benchmark, JSON to $OUT/NAME.json, digest to stderr
    local name=$1; shift
    echo "== $name" >&2
    "$PY" tools/benchmark.py "$@" --out "$OUT/$name.json" > /dev/null
}

run_check() {
    case $1 in
    headline) bench headline_ours_bf16_vs_stock_fp32 $OURS --vs $STOCK $TRAIN --no-stages ;;
    bf16) bench lever_bf16 $OURS --vs $OURS_FP32 $TRAIN --no-stages ;;
    stages) bench stages_ours_bf16_vs_stock_fp32 $OURS --vs $STOCK $TRAIN ;;
    channels_last) bench lever_channels_last $OURS --vs $OURS $TRAIN --no-stages \
        --channels-last --vs-bench-options channels_last=False ;;
    cudnn) bench lever_cudnn_benchmark $OURS --vs $OURS $TRAIN --no-stages \
        --cudnn-benchmark --vs-bench-options cudnn_benchmark=False ;;
    batch) bench lever_batch8_vs_2 $OURS --vs $OURS $TRAIN --no-stages \
        --batch-size 8 --vs-bench-options batch_size=2 ;;
    polygon) bench lever_polygon_masks $OURS --vs $OURS $TRAIN --no-stages \
        --mask-type polygon --vs-bench-options mask_type=bitmap ;;
    compile) bench lever_compile_backbone $OURS --vs $OURS $TRAIN $FIXED --no-stages \
        --compile-backbone --vs-bench-options compile_backbone=False ;;
    data) bench data_fast_vs_stock configs/_base_/datasets/coco_instance_fast.py \
        --data-only --vs mmdet::_base_/datasets/coco_instance.py $DATA \
        --data-dir "$OUT/bench_data" ;;
    *) echo "error: unknown check '$1'" >&2; exit 2 ;;
    esac
}

CHECKS=("$@")
[ ${#CHECKS[@]} -gt 0 ] || CHECKS=(headline bf16 stages channels_last cudnn batch polygon compile data)
for check in "${CHECKS[@]}"; do
    run_check "$check"
done
rm -rf "$OUT/bench_data"
echo "results in $OUT" >&2
