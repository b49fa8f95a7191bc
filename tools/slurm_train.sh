#!/usr/bin/env bash
# Slurm training: one task per GPU, MMEngine's slurm launcher sets up DDP.
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [--requeue] [train.py args...]
# GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS ('') as in MMDetection.
#
# Pre-emption (docs/reliability.md):
#   SIGNAL (default USR1@120) is srun's --signal: Slurm sends SIGUSR1 120 s before the time
#   limit; like the SIGTERM of scancel or a pre-emption, it makes the tasks save their
#   current iteration and exit 75. SIGNAL= (empty) asks for no warning signal.
#   --requeue: when the job exits 75 (its iteration saved), submit it again with --resume,
#   up to MAX_REQUEUES (default 20) times. Any other exit status ends the script with it.
# Also requeue-safe by hand: pass --resume --allow-fresh-start so a requeued job continues.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SIGNAL=${SIGNAL-USR1@120}
MAX_REQUEUES=${MAX_REQUEUES:-20}
PREEMPTED=75  # PreemptionHook's exit status: pre-empted, current iteration saved
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/find_python.sh"
if ! [[ "$MAX_REQUEUES" =~ ^[0-9]+$ ]]; then
    echo "error: MAX_REQUEUES=$MAX_REQUEUES is not a number" >&2
    exit 2
fi
REQUEUE=0
ARGS=()         # train.py arguments as given
REQUEUE_ARGS=() # the same without any --resume [PATH]: a requeued job resumes the latest
skip_path=0
for arg in "${@:5}"; do
    if [ "$skip_path" = 1 ]; then
        skip_path=0
        ARGS+=("$arg")
        if [[ "$arg" == -* ]]; then REQUEUE_ARGS+=("$arg"); fi
        continue
    fi
    case "$arg" in
        --requeue) REQUEUE=1 ;;
        --resume) ARGS+=("$arg"); skip_path=1 ;;
        --resume=*) ARGS+=("$arg") ;;
        *) ARGS+=("$arg"); REQUEUE_ARGS+=("$arg") ;;
    esac
done
REQUEUE_ARGS+=(--resume)
SIGNAL_ARGS=()
if [ -n "$SIGNAL" ]; then SIGNAL_ARGS=(--signal="$SIGNAL"); fi

attempt=0
while true; do
    set +e
    # shellcheck disable=SC2086
    srun --partition="$PARTITION" \
        --job-name="$JOB_NAME" \
        --gres=gpu:"$GPUS_PER_NODE" \
        --ntasks="$GPUS" \
        --ntasks-per-node="$GPUS_PER_NODE" \
        --cpus-per-task="$CPUS_PER_TASK" \
        --kill-on-bad-exit=1 \
        ${SIGNAL_ARGS[@]+"${SIGNAL_ARGS[@]}"} \
        $SRUN_ARGS \
        "$PYTHON" -u "$HERE/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher="slurm" \
        ${ARGS[@]+"${ARGS[@]}"}
    code=$?
    set -e
    if [ "$REQUEUE" = 1 ] && [ "$code" = "$PREEMPTED" ] && [ "$attempt" -lt "$MAX_REQUEUES" ]; then
        attempt=$((attempt + 1))
        echo "slurm_train.sh: $JOB_NAME stopped with its iteration saved (exit $code):" \
             "submitting it again with --resume ($attempt/$MAX_REQUEUES)" >&2
        ARGS=("${REQUEUE_ARGS[@]}")
        continue
    fi
    exit "$code"
done
