#!/usr/bin/env bash
# Issue 17's GPU run, in one go, on a GPU machine without network (about 9 minutes at most, set-up
# included; every phase has its own time limit, so a hang costs that phase only):
#
#   benchmarks/gpu_run.sh [OUTDIR]               on the GPU machine (OUTDIR: default $OUT, else out/gpu_run)
#   benchmarks/gpu_run.sh --cpu_tiny [OUTDIR]    the same script end to end on a CPU, at toy sizes (a dry run)
#
# Needs the carried folder gpu_carry/ (or $GPU_CARRY), built on a machine with the data and pip by
# `python benchmarks/prepare_gpu_carry.py`: wheels of datasets, evaluate, dill, multiprocess and fsspec,
# MiniLM-L6 in float16, bert-tiny's and SmolLM2-135M's configs, the GLUE rows the `gpu` preset uses.
#
# 1. set-up: the wheels into /tmp/textmix-site (pip --no-index --no-deps), textmix from this work tree
#    (PYTHONPATH; no install), hub and datasets offline;
# 2. gpu_check.py: the oracles, no host sync in mix(), bf16 autocast, then step ratios for bert-tiny's
#    shape (random init) and a BERT-base-shaped model (random init), fp32, batch 32, length 128;
# 3. gpu_check.py --decoder: step ratios of a random Llama-shaped classifier at SmolLM2-135M's size
#    (30 layers, hidden 576), left padding, bf16 autocast, every text method the Mixer accepts on it;
# 4. gpu_compat.py: the GPU-only cells of the compatibility matrix (fp16 + GradScaler, compile, packed
#    batches with cu_seqlens), a table of cell -> result; then vision_gpu_check.py;
# 5. the `gpu` preset (textmix compare), as $SHARDS processes (`--shard I/N`) sharing the GPU, then
#    `textmix report` once they are done (--cpu_tiny: benchmarks/gpu_tiny.yaml over the preset, 2 shards);
# 6. gpu_run_summary.py: phase times, runs done, time per run.
#
# OUTDIR gets at most 8 files: log.txt (everything printed), env.txt, checks.md (the output of 2-4: the
# step-ratio tables), report.md (the sweep's report), summary.md, timing.tsv, sweep.tar.gz (the sweep
# folder: grid, plan, report, each run's results.json, predictions.npz, run.log, the shards' logs; no
# checkpoints). On the device machine of this workplace: run(command="benchmarks/gpu_run.sh",
# carry=["gpu_carry"], timeout_s=600), from the checkout the session started in (that is what travels).
set -u -o pipefail

MODE=gpu
OUTDIR=""
for arg in "$@"; do
    case "$arg" in
        --cpu_tiny|--dry_run) MODE=cpu ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        -*) echo "unknown option $arg (see --help)" >&2; exit 2 ;;
        *) OUTDIR=$arg ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
OUTDIR=${OUTDIR:-${OUT:-out/gpu_run}}
CARRY=$(cd "${GPU_CARRY:-gpu_carry}" 2>/dev/null && pwd) || { echo "no carry folder ${GPU_CARRY:-gpu_carry}: run python benchmarks/prepare_gpu_carry.py first" >&2; exit 2; }
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd)
SCRATCH=$(mktemp -d /tmp/gpu_run.XXXXXX)
# The sweep: on the GPU machine in a fixed folder, so that a second call on the same (still warm) machine
# finishes what a first one left (finished runs are skipped; $SWEEP_DIR to choose); a dry run starts afresh.
if [ "$MODE" = gpu ]; then SWEEP=${SWEEP_DIR:-/tmp/textmix-gpu-sweep}; else SWEEP=$SCRATCH/sweep; fi
LOG=$OUTDIR/log.txt
TIMING=$OUTDIR/timing.tsv
: >"$LOG"
: >"$OUTDIR/checks.md"
printf 'phase\tlimit_s\tseconds\texit\n' >"$TIMING"

export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export HF_HOME=$SCRATCH/hf TEXTMIX_SHARED=$CARRY MPLBACKEND=Agg
if [ "$MODE" = gpu ]; then
    PY=${PYTHON:-python3}
    SHARDS=${SHARDS:-7}            # 102 runs: 14-15 per shard
    DEVICE=(); TINY=(); GRID=()
    LIMITS=(setup=45 checks=90 decoder=45 compat=60 vision=30 sweep=240 report=30)  # 540 s: 9 min
else
    PY=${PYTHON:-python}
    SHARDS=${SHARDS:-2}
    DEVICE=(--device cpu); TINY=(--tiny); GRID=(--config benchmarks/gpu_tiny.yaml)
    LIMITS=(setup=60 checks=300 decoder=120 compat=600 vision=120 sweep=1500 report=120)  # a shared 2-core CPU
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
limit() { local kv; for kv in "${LIMITS[@]}"; do [ "${kv%%=*}" = "$1" ] && echo "${kv#*=}"; done; }

# phase NAME CMD...: CMD with the phase's time limit (a shell function keeps its own limits), its output
# into log.txt (and into $PHASE_OUT if set); its seconds and exit status into timing.tsv
phase() {
    local name=$1; shift
    local lim; lim=$(limit "$name")
    local t0=$SECONDS rc
    echo "=== $name (limit ${lim}s, load average $(cut -d" " -f1-3 /proc/loadavg 2>/dev/null)): $*" | tee -a "$LOG"
    if declare -F "$1" >/dev/null; then
        "$@" 2>&1 | tee -a "$LOG" ${PHASE_OUT:+"$PHASE_OUT"}
    else
        timeout -k 10 "$lim" "$@" 2>&1 | tee -a "$LOG" ${PHASE_OUT:+"$PHASE_OUT"}
    fi
    rc=$?
    [ "$rc" = 124 ] && echo "=== $name: stopped at its limit of ${lim}s" | tee -a "$LOG"
    printf '%s\t%s\t%s\t%s\n' "$name" "$lim" "$((SECONDS - t0))" "$rc" >>"$TIMING"
    return "$rc"
}

# textmix from this work tree; on the GPU machine, the carried wheels before the machine's own packages
if [ "$MODE" = gpu ]; then export PYTHONPATH=$ROOT:/tmp/textmix-site; else export PYTHONPATH=$ROOT; fi

setup() {
    if [ "$MODE" = gpu ]; then
        timeout "$(limit setup)" "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/textmix-site "$CARRY"/wheels/*.whl || return 1
    else  # the dry run uses this machine's environment; the wheels are only listed
        ls "$CARRY"/wheels/*.whl || return 1
    fi
    {
        date -u; uname -a; nvidia-smi 2>&1 | head -15
        "$PY" - <<'EOF'
import datasets, evaluate, torch, transformers, textmix, fsspec, pyarrow, sys
print("python", sys.version.split()[0])
for m in (torch, transformers, datasets, evaluate, fsspec, pyarrow):
    print(m.__name__, m.__version__)
print("textmix from", textmix.__file__)
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "-")
EOF
    } >"$OUTDIR/env.txt" 2>&1
    local rc=$?
    cat "$OUTDIR/env.txt"
    return $rc
}

sweep() {
    local i pids=() rc=0
    mkdir -p "$SWEEP"
    for i in $(seq 1 "$SHARDS"); do
        timeout -k 10 "$(limit sweep)" "$PY" -m textmix.harness.cli compare --preset gpu "${GRID[@]}" \
            --glue_dir "$CARRY/glue" --model_name_or_path "$CARRY/models/minilm-l6" --output_dir "$SWEEP" \
            --shard "$i/$SHARDS" >"$SCRATCH/shard$i.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || rc=$?
        echo "--- shard $((i + 1))/$SHARDS (exit $rc so far)"
        grep -v '^\s*$' "$SCRATCH/shard$((i + 1)).log" | tail -40
    done
    return $rc
}

phase setup setup || { echo "set-up failed: see $LOG" >&2; }
PHASE_OUT=$OUTDIR/checks.md phase checks "$PY" benchmarks/gpu_check.py "${DEVICE[@]}" "${TINY[@]}" \
    --model "$CARRY/models/bert-tiny" --random_init
PHASE_OUT=$OUTDIR/checks.md phase decoder "$PY" benchmarks/gpu_check.py "${DEVICE[@]}" "${TINY[@]}" --only_timing \
    --decoder "$CARRY/models/smollm2-135m/config.json"
PHASE_OUT=$OUTDIR/checks.md phase compat "$PY" benchmarks/gpu_compat.py "${DEVICE[@]}" "${TINY[@]}"
PHASE_OUT=$OUTDIR/checks.md phase vision "$PY" benchmarks/vision_gpu_check.py "${DEVICE[@]}" "${TINY[@]}"
phase sweep sweep
phase report "$PY" -m textmix.harness.cli report "$SWEEP"
[ -f "$SWEEP/report.md" ] && cp "$SWEEP/report.md" "$OUTDIR/report.md"
"$PY" benchmarks/gpu_run_summary.py "$SWEEP" "$TIMING" --shards "$SHARDS" 2>&1 | tee "$OUTDIR/summary.md" | tee -a "$LOG"
cp "$SCRATCH"/shard*.log "$SWEEP"/ 2>/dev/null
tar -czf "$OUTDIR/sweep.tar.gz" --exclude='checkpoint-*' --exclude='*.safetensors' --exclude='.textmix-run.lock' \
    -C "$(dirname "$SWEEP")" "$(basename "$SWEEP")"
rm -rf "$SCRATCH"
ls -la "$OUTDIR" | tee -a "$LOG"
