#!/usr/bin/env bash
# Multi-GPU / multi-node training through torchrun (PyTorch DDP as MMEngine launches it).
#   tools/dist_train.sh CONFIG GPUS [train.py args...]
# Multi-node: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host0 tools/dist_train.sh CONFIG 8
# On a machine without CUDA the processes use gloo on the CPU.
#
# Faults (docs/reliability.md):
#   MAX_RESTARTS=N    torchrun's --max-restarts: a crashed worker restarts the job (all
#                     workers) from its last checkpoint, with --resume --allow-fresh-start.
#   SIGTERM/SIGUSR1   to this process (it becomes torchrun) or to the process group: the
#                     workers save their current iteration and the script exits 75.
#   SHUTDOWN_TIMEOUT  seconds torchrun waits for workers it asked to stop (default 120):
#                     enough to finish an iteration and write a checkpoint.
# Exit status: 0 done, 75 pre-empted and saved (run again with --resume), 128+N stopped
# by signal N without a save, 1 any other failure (tools/dist_launch.py).
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
MAX_RESTARTS=${MAX_RESTARTS:-0}
export PET_SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-${PET_SHUTDOWN_TIMEOUT:-120}}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/find_python.sh"
if ! [[ "$MAX_RESTARTS" =~ ^[0-9]+$ ]]; then
    echo "error: MAX_RESTARTS=$MAX_RESTARTS is not a number of restarts" >&2
    exit 2
fi
RESUME=()
if [ "$MAX_RESTARTS" -gt 0 ]; then
    # a restarted worker continues from the last checkpoint; the first start may find none
    has_resume=0
    args=("${@:3}")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[i]}" in
            --resume=*) has_resume=2 ;;
            --resume) has_resume=1
                if [ $((i + 1)) -lt ${#args[@]} ] && [[ "${args[i + 1]}" != -* ]]; then
                    has_resume=2
                fi ;;
        esac
    done
    if [ "$has_resume" = 2 ]; then
        echo "error: MAX_RESTARTS resumes each restart from the work dir's last checkpoint;" \
             "--resume PATH would go back to PATH every time: pass --resume without a path" >&2
        exit 2
    fi
    if [ "$has_resume" = 0 ]; then RESUME=(--resume); fi
    RESUME+=(--allow-fresh-start)
fi
exec "$PYTHON" "$HERE/dist_launch.py" \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" --max-restarts="$MAX_RESTARTS" \
    "$HERE/train.py" "$CONFIG" --launcher pytorch "${@:3}" ${RESUME[@]+"${RESUME[@]}"}
