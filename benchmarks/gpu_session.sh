#!/usr/bin/env bash
# Every GPU check and benchmark of the project, for a GPU host, each step logged under $OUT
# (default gpu-results/); a failing step does not stop the others. Wheels fetched by
# benchmarks/gpu_wheels.sh in .whl/ are installed first when present (hosts without a registry).
#
#   benchmarks/gpu_session.sh [STEP ...]
#   steps: env tests latency check sandbox eval attention multigpu graph
#          (default: all)
#   GPU_TESTS=PATH... limits the tests step to those test files (default: all of tests/)
#   GPU_LOGS=DIR writes the logs there and packs them into $OUT/logs.tgz after every step, for
#   hosts that return only a few files from $OUT
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
logs=${GPU_LOGS:-$out}
mkdir -p "$out" "$logs"
site=()
if compgen -G ".whl/*.whl" > /dev/null; then
    site=(/tmp/site)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . > "$logs/install.log" 2>&1 \
    || { cat "$logs/install.log"; exit 1; }
# Bytecode, as an installation has it: pip compiles what it installs, and a checkout's first run
# writes its own. Hosts that set PYTHONDONTWRITEBYTECODE would otherwise compile every module of
# the project and of the carried wheels in every process, each verdict's included.
python3 -m compileall -q -j 0 "${site[@]}" agent evals graphs kernel_agent \
    sandbox tools tests benchmarks > "$logs/compileall.log" 2>&1
gpus=$(nvidia-smi -L 2> /dev/null | wc -l)

step() {  # step NAME COMMAND...: run it, keep its output, say how it ended
    local name=$1
    shift
    local started=$SECONDS
    "$@" > "$logs/$name.log" 2>&1
    echo "$name: exit $? after $((SECONDS - started)) s ($logs/$name.log)"
    if [ "$logs" != "$out" ]; then
        tar czf "$out/logs.tgz" -C "$logs" .
    fi
}

for s in ${@:-env tests latency check sandbox eval attention multigpu graph}; do
    case $s in
        env) step env bash -c 'nvidia-smi; python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())"; ncu --version' ;;
        tests) step tests env KERNEL_AGENT_REQUIRE_GPU=1 python3 -m pytest -m gpu -v -rfEs --tb=short --durations=60 ${GPU_TESTS:-tests} ;;
        latency) step latency python3 benchmarks/verifier_latency.py --repeats 5 --markdown "$logs/latency.md" ;;
        check)  # `kernel-agent check` wall time: the first (baselines measured), then warm runs
            step check bash -c 'p=benchmarks/problems/softmax; for run in first warm warm; do
                /usr/bin/time -f "check $run: exit %x after %e s" \
                    kernel-agent check $p/problem.py $p/kernel.py > /dev/null; done' ;;
        sandbox) step sandbox python3 benchmarks/sandbox_overhead.py --runs 20 ;;
        eval) step eval python3 benchmarks/eval_suite.py --markdown "$logs/eval.md" ;;
        attention) step attention python3 benchmarks/attention_tuning.py --markdown "$logs/attention.md" ;;
        multigpu)
            if [ "$gpus" -ge 2 ]; then
                step multigpu python3 benchmarks/multi_gpu.py --markdown "$logs/multi_gpu.md"
            else
                echo "multigpu: skipped, $gpus GPU(s) here"
            fi ;;
        graph) step graph python3 benchmarks/graph_overhead.py --markdown "$logs/graph.md" ;;
        *) echo "unknown step $s" >&2; exit 2 ;;
    esac
done
