"""ONNX export of the min-dalle modules in the encoder-decoder contract of docs/model-package.md.

Written for torch 1.13's exporter (opset 14), as scripts/train/export_generator.py:
TracerWarnings are errors (a trace that specialised a shape would be wrong for other row
counts), masks are finite additive biases. Large graphs (Mega's step graph is ~5 GB in
float32) cannot live in one protobuf (2 GB limit), so weights can go to one external
data file beside the graph (`<graph>.onnx.data`), which onnxruntime reads from the
graph's folder.
"""
from __future__ import annotations

import io
import os
import tempfile
import warnings
from typing import List, Optional

import onnx
import torch
import torch.nn as nn

from min_dalle_modules import Decoder, Detokenizer, Encoder
from min_dalle_spec import BartShape

OPSET = 14
# Graphs whose weights exceed this go to external data even without --external-data
# (protobuf's hard limit is 2 GiB; leave room for the graph itself).
EXTERNAL_DATA_BYTES = 1_500_000_000


class EncoderGraph(nn.Module):
    """input_ids [P, T] -> encoder_state [P, T, E]."""

    def __init__(self, encoder: Encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids):
        return self.encoder(input_ids)


class PrefillGraph(nn.Module):
    """encoder_state [P, T, E] -> cross_keys [L, P, H, D, T] (transposed), cross_values [L, P, H, T, D]."""

    def __init__(self, decoder: Decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, encoder_state):
        return self.decoder.cross(encoder_state)


class StepGraph(nn.Module):
    """One decode step over fixed self-attention slots and per-row cross keys/values (see step_input_names)."""

    def __init__(self, decoder: Decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, input_ids, position_ids, attention_mask, text_mask, *per_layer):
        n = len(self.decoder.layers)
        past_k, past_v = per_layer[:n], per_layer[n:2 * n]
        cross_k, cross_v = per_layer[2 * n:3 * n], per_layer[3 * n:]
        return self.decoder.step(input_ids, position_ids, attention_mask, text_mask, past_k, past_v, cross_k, cross_v)


def step_input_names(layers: int) -> List[str]:
    return (["input_ids", "position_ids", "attention_mask", "text_mask"]
            + [f"past_key_{l}" for l in range(layers)] + [f"past_value_{l}" for l in range(layers)]
            + [f"cross_key_{l}" for l in range(layers)] + [f"cross_value_{l}" for l in range(layers)])


def example_step_inputs(s: BartShape, rows: int, seed: int):
    """Rows at different positions with random slot contents, for export and reference outputs."""
    g = torch.Generator().manual_seed(seed)
    slots, t, h, d = 256, s.text_length, s.heads, s.head_dim
    positions = torch.tensor([[(37 * r + 5) % slots] for r in range(rows)])  # [R, 1]
    mask = (torch.arange(slots)[None, :] < positions).float()  # [R, S]
    text_len = torch.tensor([2 + (11 * r) % (t - 2) for r in range(rows)])
    text_mask = (torch.arange(t)[None, :] < text_len[:, None]).float()  # [R, T]
    ids = torch.randint(0, s.image_vocab, (rows, 1), generator=g)
    ids[0, 0] = 2 ** 14 - 1  # min-dalle's start token
    layers = s.layers
    past_k = [torch.randn(rows, h, slots, d, generator=g) for _ in range(layers)]
    past_v = [torch.randn(rows, h, slots, d, generator=g) for _ in range(layers)]
    cross_k = [torch.randn(rows, h, d, t, generator=g) for _ in range(layers)]
    cross_v = [torch.randn(rows, h, t, d, generator=g) for _ in range(layers)]
    return [ids, positions, mask, text_mask, *past_k, *past_v, *cross_k, *cross_v]


def _param_bytes(module: nn.Module) -> int:
    return sum(p.numel() * 4 for p in module.parameters())


def _initializers_and_constants(model: onnx.ModelProto):
    """External tensors as (tensor, is_initializer): torch writes big graphs' Constant node values
    to files too, and onnxruntime's shape inference cannot read those from a file."""
    found = [(t, True) for t in model.graph.initializer]
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                found.append((attribute.t, False))
            found.extend((t, False) for t in attribute.tensors)
    return [(t, init) for t, init in found if t.data_location == onnx.TensorProto.EXTERNAL]


def _has_external_data(model: onnx.ModelProto) -> bool:
    return bool(_initializers_and_constants(model))


def _copy_bytes(source: str, offset: int, length: Optional[int], out) -> None:
    with open(source, "rb") as src:
        src.seek(offset)
        left = length
        while left is None or left > 0:
            chunk = src.read(1 << 24 if left is None else min(1 << 24, left))
            if not chunk:
                break
            out.write(chunk)
            if left is not None:
                left -= len(chunk)


def _stream_external_data(model: onnx.ModelProto, source_dir: str, data_path: str) -> None:
    """Copies every external initializer's bytes into one file, a chunk at a time, and points the
    tensor there (peak memory stays one chunk, whatever the graph's size); Constant values go
    back inline in the graph."""
    location = os.path.basename(data_path)
    with open(data_path, "wb") as out:
        for tensor, is_initializer in _initializers_and_constants(model):
            info = {entry.key: entry.value for entry in tensor.external_data}
            source = os.path.join(source_dir, info["location"])
            offset, length = int(info.get("offset", 0)), (int(info["length"]) if "length" in info else None)
            del tensor.external_data[:]
            if not is_initializer:
                inline = io.BytesIO()
                _copy_bytes(source, offset, length, inline)
                tensor.raw_data = inline.getvalue()
                tensor.data_location = onnx.TensorProto.DEFAULT
                continue
            if (length or 0) >= 1 << 20:  # big tensors page-aligned, so onnxruntime can map them
                out.seek((out.tell() + 4095) // 4096 * 4096)
            start = out.tell()
            _copy_bytes(source, offset, length, out)
            for key, value in (("location", location), ("offset", str(start)), ("length", str(out.tell() - start))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value


def _export(module: nn.Module, args, path: str, inputs, outputs, dynamic, external: bool) -> List[str]:
    """Exports to path; returns the files written (the graph, and its external data file if any)."""
    warnings.filterwarnings("error", category=torch.jit.TracerWarning)
    module.eval()
    external = external or _param_bytes(module) > EXTERNAL_DATA_BYTES
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        # torch writes graphs over 2 GB as one file per tensor; export into a scratch
        # folder, then re-save as one graph file (+ one data file) in place.
        raw = os.path.join(tmp, "graph.onnx")
        with torch.no_grad():
            torch.onnx.export(module, tuple(args), raw, opset_version=OPSET, input_names=inputs,
                              output_names=outputs, dynamic_axes=dynamic)
        # The graph only: tensors torch wrote to their own files are streamed into one data
        # file below instead of being loaded (Mega's step graph is ~6 GB of weights, and
        # holding them twice beside the module's own copy is what made Mega's conversion
        # need ~20 GB).
        model = onnx.load(raw, load_external_data=False)
        files = [path]
        if os.path.exists(path + ".data"):
            os.remove(path + ".data")
        if external and not _has_external_data(model):
            # A small graph asked for external data (tests force it) goes through the same
            # per-tensor layout torch writes for big ones, so one code path serves both.
            onnx.save_model(model, raw, save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0,
                            convert_attribute=True)
            model = onnx.load(raw, load_external_data=False)
        if _has_external_data(model):
            _stream_external_data(model, tmp, path + ".data")
            files.append(path + ".data")
        onnx.save_model(model, path)
    onnx.checker.check_model(path)
    return files


def export_encoder(encoder: Encoder, s: BartShape, path: str, external: bool) -> List[str]:
    ids = torch.ones(2, s.text_length, dtype=torch.long)
    ids[:, 0], ids[:, 1] = 0, 2
    return _export(EncoderGraph(encoder), [ids], path, ["input_ids"], ["encoder_state"],
                   {"input_ids": {0: "rows"}, "encoder_state": {0: "rows"}}, external)


def export_prefill(decoder: Decoder, s: BartShape, path: str, external: bool) -> List[str]:
    state = torch.randn(2, s.text_length, s.embed)
    return _export(PrefillGraph(decoder), [state], path, ["encoder_state"], ["cross_keys", "cross_values"],
                   {"encoder_state": {0: "rows"}, "cross_keys": {1: "rows"}, "cross_values": {1: "rows"}}, external)


def export_step(decoder: Decoder, s: BartShape, path: str, external: bool) -> List[str]:
    names = step_input_names(s.layers)
    dynamic = {name: {0: "rows"} for name in names}
    # The self-attention slot axis is dynamic (generator.cache slots "filled").
    dynamic.update({f"past_key_{l}": {0: "rows", 2: "slots"} for l in range(s.layers)})
    dynamic.update({f"past_value_{l}": {0: "rows", 2: "slots"} for l in range(s.layers)})
    dynamic.update({"attention_mask": {0: "rows", 1: "slots"}, "logits": {0: "rows"}, "new_keys": {1: "rows"}, "new_values": {1: "rows"}})
    return _export(StepGraph(decoder), example_step_inputs(s, rows=3, seed=0), path, names,
                   ["logits", "new_keys", "new_values"], dynamic, external)


def export_detokenizer(detokenizer: Detokenizer, path: str, external: bool) -> List[str]:
    codes = torch.randint(0, 2 ** 14, (2, 16, 16))
    return _export(detokenizer, [codes], path, ["codes"], ["images"],
                   {"codes": {0: "rows"}, "images": {0: "rows"}}, external)
