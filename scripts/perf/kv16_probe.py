"""A float16 KV cache, probed at the graph level (issue 27, "the next lever"): writes a variant of a
step graph whose cache inputs (past_key_*, past_value_*; with --cross also an encoder-decoder's
cross_key_*, cross_value_*) are float16 and whose attention products read them directly.

The int8 step graphs are bound by attention over the float32 cache (memory-bound: Mini-shaped,
805 MB read per step at 64 rows and 128 slots). onnxruntime's CPU MatMul takes float16 inputs, so
the variant halves those bytes without converting the cache inside the graph: every MatMul that
reads a cache tensor gets Cast(other input -> float16) on its small side (q, or the softmax
probabilities) and Cast(result -> float32) after it, so the rest of the graph stays float32.
A Transpose between the cache input and its MatMul (the exporters' own score form, before
scripts/perf/attention_rewrite.py's keys-first rewrite) is kept and runs in float16. Any other
consumer of a cache tensor stops the probe with its name: that graph's structure is not handled.

The new-entry outputs (new_keys, new_values) stay float32: the probe measures the step's reads.
This is a probe for benchmarks (bench/perf/kv16-probe.ts), not a package variant.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/kv16_probe.py \
      models/default/generator/step.int8.onnx out/kv16/shapes/step.int8.kv16.onnx

A graph with external data: its data file is copied beside the variant unchanged (no initializer
changes; onnxruntime refuses a symbolic link that leads out of the model's folder).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import onnx
from onnx import TensorProto, helper

F16 = TensorProto.FLOAT16
F32 = TensorProto.FLOAT


def cache_inputs(graph, cross: bool, only: str | None = None) -> list:
    kinds = (only,) if only else ("key", "value")
    prefixes = tuple(f"past_{k}_" for k in kinds) + (tuple(f"cross_{k}_" for k in kinds) if cross else ())
    return [i for i in graph.input if i.name.startswith(prefixes)]


def to_float16_cache(model, cross: bool = False, only: str | None = None) -> dict:
    """Rewrites `model` in place (see the module's docstring); returns counts for the report."""
    graph = model.graph
    inputs = cache_inputs(graph, cross, only)
    if not inputs:
        raise SystemExit("no past_key_* / past_value_* inputs: not a step graph")
    consumers: dict = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    half = {i.name for i in inputs}  # tensors that are float16 in the variant
    pending = list(half)
    matmuls: dict = {}  # MatMul output -> (node, index of the cache-side input)
    transposes = 0
    while pending:
        name = pending.pop()
        for node in consumers.get(name, []):
            if node.op_type == "Transpose" and len(node.input) == 1:
                half.add(node.output[0])
                pending.append(node.output[0])
                transposes += 1
            elif node.op_type == "MatMul":
                sides = [k for k, x in enumerate(node.input) if x in half or x == name]
                matmuls[node.output[0]] = (node, sides)
            else:
                raise SystemExit(f"cache tensor {name} is read by {node.op_type} {node.name!r}: "
                                 "the graph's structure is not handled by this probe (only MatMul, Transpose)")
    nodes = []
    for node in graph.node:
        key = node.output[0] if node.output else None
        if key not in matmuls:
            nodes.append(node)
            continue
        matmul, sides = matmuls[key]
        stem = matmul.name or matmul.output[0]
        ins = list(matmul.input)
        for k, x in enumerate(ins):
            if k in sides:
                continue
            cast = f"{stem}.f16_in{k}"
            nodes.append(helper.make_node("Cast", [x], [cast], name=f"{stem}/to_f16_{k}", to=F16))  # q [R,H,D,1] or probs [R,H,1,S]
            ins[k] = cast
        half_out = f"{stem}.f16_out"
        nodes.append(helper.make_node("MatMul", ins, [half_out], name=matmul.name))  # float16 [R,H,S,1] or [R,H,1,D]
        nodes.append(helper.make_node("Cast", [half_out], [matmul.output[0]], name=f"{stem}/to_f32", to=F32))
    del graph.node[:]
    graph.node.extend(nodes)
    for i in inputs:
        i.type.tensor_type.elem_type = F16
    # Stale value_info for tensors that became float16 would contradict the new types.
    kept = [v for v in graph.value_info if v.name not in half]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return {"cache_inputs": len(inputs), "matmuls": len(matmuls), "transposes_in_f16": transposes,
            "casts_added": sum(len(n.input) - len(s) + 1 for n, s in matmuls.values())}


def micro_graphs(folder: str, rows: int, heads: int, slots: int, dim: int) -> list:
    """One layer's two attention products over the cache, alone, in float32, float16 and int8
    (MatMulInteger: u8 x s8 -> int32, what an int8 cache would use; scales left out): for
    bench/perf/kv16-probe.ts --micro, to see which element types the execution provider runs
    natively. Returns the files written."""
    vi = helper.make_tensor_value_info
    cache = [rows, heads, slots, dim]
    written = []
    for kind, (small, small_shape, out_shape, cache_first) in {
        "keys": ("q", [rows, heads, dim, 1], [rows, heads, slots, 1], True),  # keys-first scores
        "values": ("p", [rows, heads, 1, slots], [rows, heads, 1, dim], False),  # probabilities · values
    }.items():
        for name, (op, t_cache, t_small, t_out) in {
            "f32": ("MatMul", F32, F32, F32),
            "f16": ("MatMul", F16, F16, F16),
            "i8": ("MatMulInteger", TensorProto.UINT8 if cache_first else TensorProto.INT8,
                   TensorProto.INT8 if cache_first else TensorProto.UINT8, TensorProto.INT32),
        }.items():
            ins = ["cache", small] if cache_first else [small, "cache"]
            graph = helper.make_graph([helper.make_node(op, ins, ["out"])], f"{kind}_{name}",
                                      [vi("cache", t_cache, cache), vi(small, t_small, small_shape)],
                                      [vi("out", t_out, out_shape)])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            model.ir_version = 8
            path = os.path.join(folder, f"{kind}_{name}.onnx")
            onnx.save(model, path)
            written.append(path)
    return written


def external_files(model) -> set:
    files = set()
    for init in model.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                files.add(entry.value)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", help="a step graph (.onnx), read-only")
    parser.add_argument("target", nargs="?", help="where the float16-cache variant goes (its folder is created)")
    parser.add_argument("--micro", metavar="DIR", help="instead: write one layer's products alone (see micro_graphs) to DIR")
    parser.add_argument("--micro-shape", default="64,16,128,64", help="rows,heads,slots,dim for --micro")
    parser.add_argument("--cross", action="store_true", help="also cross_key_* / cross_value_* (encoder-decoder)")
    parser.add_argument("--only", choices=["key", "value"], help="only the keys or only the values (to see which product gains)")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime load check")
    args = parser.parse_args()
    if args.micro:
        os.makedirs(args.micro, exist_ok=True)
        json.dump({"micro": micro_graphs(args.micro, *map(int, args.micro_shape.split(",")))}, sys.stdout)
        print()
        return
    if not args.source or not args.target:
        parser.error("source and target are required (or --micro DIR)")
    model = onnx.load(args.source, load_external_data=False)
    report = to_float16_cache(model, cross=args.cross, only=args.only)
    out_dir = os.path.dirname(os.path.abspath(args.target))
    os.makedirs(out_dir, exist_ok=True)
    src_dir = os.path.dirname(os.path.abspath(args.source))
    for location in sorted(external_files(model)):
        copy = os.path.join(out_dir, location)
        if os.path.lexists(copy):
            os.remove(copy)
        shutil.copyfile(os.path.join(src_dir, location), copy)
    onnx.save(model, args.target)
    onnx.checker.check_model(args.target)  # by path: graphs with external data over 2 GB are fine too
    report["checker"] = "ok"
    if not args.no_check:
        try:
            import onnxruntime as ort  # noqa: PLC0415 (Debian's image has no Python onnxruntime)
        except ImportError:
            report["onnxruntime"] = "not in this Python: bench/perf/kv16-probe.ts loads the graph in onnxruntime-node"
        else:
            ort.InferenceSession(args.target, providers=["CPUExecutionProvider"])
            report["onnxruntime"] = f"loads ({ort.__version__})"
    report.update(source=args.source, target=args.target)
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
