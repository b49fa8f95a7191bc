#!/usr/bin/env bash
# GPU figures for docs/performance.md, for a session that is lent a GPU
# (one H100): MMDetection's stock scratch Mask R-CNN (GN, 6x) against ours,
# configs/scratch/mask_rcnn_r50_gn_6x.py in its fastest variant (polygon
# gt masks, i.e. the coco_instance_fast.py pipeline's LoadAnnotations(
# poly2mask=False)), on synthetic 1333x800 inputs with 7 instances an image,
# 2 images per GPU, cudnn.benchmark off, fp32 and bf16 AMP. The two configs
# alternate in blocks of 5 iterations in one process, so the ratio holds on
# a shared machine. Then the data pipeline per core on the machine's CPUs.
#
# Usage (device machine, repo root):  bash tools/gpu_check.sh
# Writes JSON files to $OUT (default work_dirs/gpu_check); about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f .gpu/setup_device.sh ]; then
    # installs the CUDA builds of torch/mmcv/mmdet and mmscratch on the device
    source .gpu/setup_device.sh
else
    echo "error: .gpu/setup_device.sh not found: it installs the CUDA stack" >&2
    exit 2
fi

OUT=${OUT:-work_dirs/gpu_check}
mkdir -p "$OUT"
STOCK=mmdet::scratch/mask-rcnn_r50-scratch_fpn_gn-all_6x_coco.py
OURS=configs/scratch/mask_rcnn_r50_gn_6x.py
# both pipelines have LoadAnnotations at index 1: polygons for ours only
POLY="--cfg-options train_dataloader.dataset.pipeline.1.poly2mask=False
      --vs-cfg-options train_dataloader.dataset.pipeline.1.poly2mask=True"
COMMON="--device cuda --image-size 1333 800 --batch-size 2 --warmup 10
        --iters 40 --block-iters 5"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

# 1. fp32, with per-stage times (each stage boundary synchronizes)
python tools/benchmark.py $OURS --vs $STOCK $COMMON $POLY \
    --out "$OUT/train_fp32_ours_fast_vs_stock.json" > /dev/null
# 2. bf16 AMP, with per-stage times
python tools/benchmark.py $OURS --vs $STOCK $COMMON $POLY --amp --amp-dtype bfloat16 \
    --out "$OUT/train_bf16_ours_fast_vs_stock.json" > /dev/null
# 3. bf16 AMP, no stage timers: the throughput figure for the table
python tools/benchmark.py $OURS --vs $STOCK $COMMON $POLY --amp --amp-dtype bfloat16 \
    --no-stages --out "$OUT/train_bf16_nostages_ours_fast_vs_stock.json" > /dev/null
# 4. fp32, no stage timers
python tools/benchmark.py $OURS --vs $STOCK $COMMON $POLY \
    --no-stages --out "$OUT/train_fp32_nostages_ours_fast_vs_stock.json" > /dev/null
# 5. data pipeline, one worker on one core of the device machine
python tools/benchmark.py --data-only configs/_base_/datasets/coco_instance_fast.py \
    --vs mmdet::_base_/datasets/coco_instance.py --image-size 1333 800 \
    --warmup 4 --iters 100 --block-iters 5 --data-dir work_dirs/bench_data \
    --out "$OUT/data_fast_vs_stock_1333x800.json" > /dev/null

echo "results in $OUT" >&2
