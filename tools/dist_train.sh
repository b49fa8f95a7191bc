#!/usr/bin/env bash
# Multi-GPU / multi-node training through torchrun (PyTorch DDP as MMEngine launches it).
#   tools/dist_train.sh CONFIG GPUS [train.py args...]
# Multi-node: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host0 tools/dist_train.sh CONFIG 8
# On a machine without CUDA the processes use gloo on the CPU.
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/find_python.sh"
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$HERE/train.py" "$CONFIG" --launcher pytorch "${@:3}"
