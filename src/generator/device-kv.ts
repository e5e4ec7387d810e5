/**
 * The KV cache kept on the device between steps (issue 29), for a step graph that returns
 * only each step's new entries (docs/model-package.md). Without it, every step hands the
 * whole cache from JavaScript to the session, which on a GPU means uploading it over the
 * bus every step. With it, the cache lives in onnxruntime's device buffers: a small write
 * graph, built here (src/model/onnx-build.ts), puts each step's new entries into the
 * device copy at each row's slot and marks the slot valid, and its outputs, kept on the
 * device ('gpu-buffer'), are the next step's `past_*` inputs.
 *
 * What onnxruntime-node 1.30 exposes, and what this rests on: the session option
 * `preferredOutputLocation` ('gpu-buffer', per output or for all) keeps outputs on the
 * device, and such a tensor (location 'gpu-buffer') can be fed to a later run of a session
 * on the same device: the binding binds it without a copy. Not usable: downloading one
 * (`Tensor.getData()` / its downloader aborts the process with an uncaught C++ exception),
 * and there is no I/O-binding object (outputs into caller-given buffers) in the Node API.
 * A device tensor does reach the host as the output of a run whose output location is
 * 'cpu', so the write graph also hands back the step's new entries (1 slot's worth per row,
 * as the step graph did). The host copy (KvSlots) stays the one every row operation (prefix
 * writes, row copies) works on; a device copy is used only while its KvSlots version
 * matches, and after any host write it is uploaded again, once.
 */
import { buildOnnx, type BuildNode } from '../model/onnx-build.js';
import { hostBytes, ort, sessionOptions } from '../model/runtime.js';
import type { Device } from '../types.js';
import { slotsLaidOut, type KvSlots } from './kv-slots.js';

/** Bytes handed between JavaScript and the sessions: tensors fed from host memory (up) and outputs read into it (down). */
export interface TransferStats {
  upBytes: number;
  downBytes: number;
  /** Steps whose cache came from the device copy, and steps that uploaded it from the host (first step, after host writes, growth). */
  deviceSteps: number;
  hostSteps: number;
  /** Bytes up on the steps fed from the device copy alone (the steady state: ids, positions, slots). */
  deviceStepUpBytes: number;
}

export function emptyTransfer(): TransferStats {
  return { upBytes: 0, downBytes: 0, deviceSteps: 0, hostSteps: 0, deviceStepUpBytes: 0 };
}

/**
 * The write graph: present = past with each row's new entry at its slot, mask with the slot
 * set, every buffer first padded with empty slots by `grow` (so a 'filled' cache grows on
 * the device too, where the host copy grows: docs of KvSlots.reserve). Inputs past_key_l /
 * past_value_l (the step graph's layout), attention_mask [R, C], new_keys / new_values
 * [L, R, H, 1, D], slot [R, 1] and grow [1] (int64); outputs present_*, C + grow slots.
 */
export function kvWriteGraph(layers: number, transposedKeys: boolean): Uint8Array {
  const nodes: BuildNode[] = [
    // Pad amounts [begin..., end...] with `grow` at the slot axis of each layout.
    { op: 'Concat', inputs: ['zeros_3', 'grow'], outputs: ['pad_last_4'], attributes: { axis: 0 } }, // [4]
    { op: 'Concat', inputs: ['zeros_6', 'grow', 'zeros_1'], outputs: ['pad_third_4'], attributes: { axis: 0 } }, // [8]
    { op: 'Concat', inputs: ['zeros_4', 'zeros_3', 'grow'], outputs: ['pad_last_of_4'], attributes: { axis: 0 } }, // [8]
    { op: 'Pad', inputs: ['attention_mask', 'pad_last_4'], outputs: ['mask_grown'] }, // [R, C']
    { op: 'Shape', inputs: ['mask_grown'], outputs: ['mask_shape'] }, // [2]
    { op: 'Gather', inputs: ['mask_shape', 'one'], outputs: ['capacity'], attributes: { axis: 0 } }, // []
    { op: 'Range', inputs: ['zero', 'capacity', 'one'], outputs: ['slots'] }, // [C]
    { op: 'Equal', inputs: ['slots', 'slot'], outputs: ['hit'] }, // [R, C]
    { op: 'Cast', inputs: ['hit'], outputs: ['hit_float'], attributes: { to: 1 } },
    { op: 'Max', inputs: ['mask_grown', 'hit_float'], outputs: ['present_mask'] }, // [R, C']
    { op: 'Unsqueeze', inputs: ['hit', 'axes_slot_third'], outputs: ['hit_rows'] }, // [R, 1, C, 1]
    { op: 'Unsqueeze', inputs: ['hit', 'axes_slot_last'], outputs: ['hit_cols'] }, // [R, 1, 1, C]
  ];
  const constants = [
    { name: 'zero', dims: [], values: [0] },
    { name: 'one', dims: [], values: [1] },
    { name: 'axes_slot_third', dims: [2], values: [1, 3] },
    { name: 'axes_slot_last', dims: [2], values: [1, 2] },
    { name: 'zeros_1', dims: [1], values: [0] },
    { name: 'zeros_3', dims: [3], values: [0, 0, 0] },
    { name: 'zeros_4', dims: [4], values: [0, 0, 0, 0] },
    { name: 'zeros_6', dims: [6], values: [0, 0, 0, 0, 0, 0] },
  ];
  const keyDims = transposedKeys ? ['rows', 'heads', 'head_dim', 'slots'] : ['rows', 'heads', 'slots', 'head_dim'];
  const valueDims = ['rows', 'heads', 'slots', 'head_dim'];
  const inputs = [
    { name: 'attention_mask', type: 'float32' as const, dims: ['rows', 'slots'] },
    { name: 'new_keys', type: 'float32' as const, dims: [layers as number | string, 'rows', 'heads', 1, 'head_dim'] },
    { name: 'new_values', type: 'float32' as const, dims: [layers as number | string, 'rows', 'heads', 1, 'head_dim'] },
    { name: 'slot', type: 'int64' as const, dims: ['rows', 1] },
    { name: 'grow', type: 'int64' as const, dims: [1] },
  ];
  // The new entries also come back to the host (for its copy) through this graph: a device tensor cannot be read directly.
  const entryDims = [layers, 'rows', 'heads', 1, 'head_dim'];
  const outputs = [
    { name: 'present_mask', type: 'float32' as const, dims: ['rows', 'slots'] },
    { name: 'entry_keys', type: 'float32' as const, dims: entryDims },
    { name: 'entry_values', type: 'float32' as const, dims: entryDims },
  ];
  nodes.push({ op: 'Identity', inputs: ['new_keys'], outputs: ['entry_keys'] }, { op: 'Identity', inputs: ['new_values'], outputs: ['entry_values'] });
  for (let l = 0; l < layers; l++) {
    constants.push({ name: `layer_${l}`, dims: [], values: [l] });
    inputs.push({ name: `past_key_${l}`, type: 'float32', dims: keyDims }, { name: `past_value_${l}`, type: 'float32', dims: valueDims });
    outputs.push({ name: `present_key_${l}`, type: 'float32', dims: keyDims }, { name: `present_value_${l}`, type: 'float32', dims: valueDims });
    nodes.push(
      { op: 'Gather', inputs: ['new_keys', `layer_${l}`], outputs: [`key_${l}`], attributes: { axis: 0 } }, // [R, H, 1, D]
      { op: 'Gather', inputs: ['new_values', `layer_${l}`], outputs: [`value_${l}`], attributes: { axis: 0 } }, // [R, H, 1, D]
      { op: 'Pad', inputs: [`past_value_${l}`, 'pad_third_4'], outputs: [`value_grown_${l}`] }, // [R, H, C', D]
      { op: 'Pad', inputs: [`past_key_${l}`, transposedKeys ? 'pad_last_of_4' : 'pad_third_4'], outputs: [`key_grown_${l}`] },
      { op: 'Where', inputs: ['hit_rows', `value_${l}`, `value_grown_${l}`], outputs: [`present_value_${l}`] }, // [R, H, C', D]
    );
    if (transposedKeys) {
      nodes.push(
        { op: 'Transpose', inputs: [`key_${l}`], outputs: [`key_t_${l}`], attributes: { perm: [0, 1, 3, 2] } }, // [R, H, D, 1]
        { op: 'Where', inputs: ['hit_cols', `key_t_${l}`, `key_grown_${l}`], outputs: [`present_key_${l}`] }, // [R, H, D, C']
      );
    } else {
      nodes.push({ op: 'Where', inputs: ['hit_rows', `key_${l}`, `key_grown_${l}`], outputs: [`present_key_${l}`] }); // [R, H, C', D]
    }
  }
  return buildOnnx({ name: 'tessera_kv_write', inputs, outputs, nodes, constants });
}

/** A step's past_* and attention_mask feeds from the host copy (views, no copy; on a GPU the run uploads them). */
export function hostPastFeeds(cache: KvSlots): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = { attention_mask: new ort.Tensor('float32', cache.mask, [cache.rows, cache.capacity]) };
  for (let l = 0; l < cache.shape.layers; l++) {
    feeds[`past_key_${l}`] = new ort.Tensor('float32', cache.keys[l], cache.keyDims); // [R, H, D, C] or [R, H, C, D]
    feeds[`past_value_${l}`] = new ort.Tensor('float32', cache.values[l], cache.valueDims); // [R, H, C, D]
  }
  return feeds;
}

/**
 * The carry graph: copies inputs that change only with the host cache (the encoder-decoder's
 * cross keys/values and text mask) onto the device, once per upload of the cache.
 */
export function carryGraph(carry: readonly { name: string; rank: number }[]): Uint8Array {
  const value = (name: string, rank: number) => ({ name, type: 'float32' as const, dims: Array.from({ length: rank }, (_, i) => `${name}_${i}`) });
  return buildOnnx({
    name: 'tessera_carry',
    inputs: carry.map((c) => value(c.name, c.rank)),
    outputs: carry.map((c) => value(`${c.name}_device`, c.rank)),
    nodes: carry.map((c) => ({ op: 'Identity', inputs: [c.name], outputs: [`${c.name}_device`] })),
  });
}

/** A step's new entries in host memory ([L, R, H, 1, D]). */
export interface HostEntries {
  keys: Float32Array;
  values: Float32Array;
}

interface Resident {
  cache: KvSlots;
  /** The KvSlots version the device copy equals. */
  version: number;
  capacity: number;
  tensors: Record<string, ort.Tensor>;
  /** The carried inputs' device copies, valid with the cache. */
  carried: Record<string, ort.Tensor>;
}

/** Whether a generator on `device` keeps its cache on the device (TESSERA_DEVICE_KV=0 turns it off, for the bench's before/after). */
export function deviceKvWanted(device: Device, env: NodeJS.ProcessEnv = process.env): boolean {
  return device === 'webgpu' && env.TESSERA_DEVICE_KV !== '0';
}

/** One generator's device copy of the cache it is stepping (one at a time: a new cache releases the last one's buffers). */
export class DeviceKv {
  private resident: Resident | null = null;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly carrySession: ort.InferenceSession | null,
    private readonly downloadSession: ort.InferenceSession,
    private readonly layers: number,
    readonly transfer: TransferStats,
  ) {}

  /** `carry`: further step inputs that change only when the host cache does (kept on the device with it). */
  static async create(device: Device, layers: number, transposedKeys: boolean, transfer: TransferStats, carry: readonly { name: string; rank: number }[] = []): Promise<DeviceKv> {
    const options = { ...sessionOptions(device), preferredOutputLocation: 'gpu-buffer' as const };
    // Everything stays on the device but the new entries' host copies.
    const writeOutputs: Record<string, ort.Tensor.DataLocation> = { present_mask: 'gpu-buffer', entry_keys: 'cpu', entry_values: 'cpu' };
    for (let l = 0; l < layers; l++) Object.assign(writeOutputs, { [`present_key_${l}`]: 'gpu-buffer', [`present_value_${l}`]: 'gpu-buffer' });
    const session = await ort.InferenceSession.create(kvWriteGraph(layers, transposedKeys), { ...sessionOptions(device), preferredOutputLocation: writeOutputs });
    const carrySession = carry.length === 0 ? null : await ort.InferenceSession.create(carryGraph(carry), options);
    const entries = [{ name: 'new_keys', rank: 5 }, { name: 'new_values', rank: 5 }];
    const downloadSession = await ort.InferenceSession.create(carryGraph(entries), sessionOptions(device)); // outputs to the host
    return new DeviceKv(session, carrySession, downloadSession, layers, transfer);
  }

  /** The step's past_* and attention_mask feeds: the device copy when it is current, else the host buffers (uploaded by the run). */
  pastFeeds(cache: KvSlots, carried: Record<string, ort.Tensor> = {}): Record<string, ort.Tensor> {
    const r = this.resident;
    if (r !== null && r.cache === cache && r.version === cache.version && r.capacity === cache.capacity) {
      this.transfer.deviceSteps += 1;
      return { ...r.tensors, ...r.carried };
    }
    this.transfer.hostSteps += 1;
    return { ...hostPastFeeds(cache), ...carried };
  }

  /**
   * After a step fed `past`: writes its new entries ([L, R, H, 1, D], host tensors) at each
   * row's `slots` into the device copy; call `settle` once the host copy has them too.
   */
  async absorb(cache: KvSlots, past: Record<string, ort.Tensor>, newKeys: ort.Tensor, newValues: ort.Tensor, slots: ArrayLike<number>): Promise<HostEntries> {
    const slot = new ort.Tensor('int64', BigInt64Array.from(Array.from(slots, (s) => BigInt(s))), [cache.rows, 1]); // [R, 1]
    // The slots the next step needs (each row one further), laid out as the host copy will lay them out.
    let furthest = 0;
    for (let r = 0; r < cache.rows; r++) furthest = Math.max(furthest, slots[r] + 2);
    const capacity = slotsLaidOut(cache.layout, cache.shape.slots, Math.min(furthest, cache.shape.slots));
    const grow = new ort.Tensor('int64', BigInt64Array.of(BigInt(Math.max(0, capacity - cache.capacity))), [1]);
    const kvNames = ['attention_mask', ...Array.from({ length: this.layers }, (_, l) => [`past_key_${l}`, `past_value_${l}`]).flat()];
    const feeds: Record<string, ort.Tensor> = { new_keys: newKeys, new_values: newValues, slot, grow };
    for (const name of kvNames) feeds[name] = past[name];
    this.transfer.upBytes += hostBytes(Object.values(feeds));
    const out = await this.session.run(feeds);
    const tensors: Record<string, ort.Tensor> = { attention_mask: out.present_mask as ort.Tensor };
    for (let l = 0; l < this.layers; l++) {
      tensors[`past_key_${l}`] = out[`present_key_${l}`] as ort.Tensor;
      tensors[`past_value_${l}`] = out[`present_value_${l}`] as ort.Tensor;
    }
    // The carried inputs: already on the device when this step fed the device copy, else copied there now.
    const carryNames = Object.keys(past).filter((name) => !kvNames.includes(name));
    let carried: Record<string, ort.Tensor> = {};
    const old = this.resident;
    if (carryNames.length > 0 && old !== null && carryNames.every((n) => old.carried[n] === past[n])) {
      carried = old.carried;
      old.carried = {}; // kept, not released below
    } else if (carryNames.length > 0 && this.carrySession !== null) {
      const hostCarry = Object.fromEntries(carryNames.map((n) => [n, past[n]]));
      this.transfer.upBytes += hostBytes(Object.values(hostCarry));
      const copied = await this.carrySession.run(hostCarry);
      carried = Object.fromEntries(carryNames.map((n) => [n, copied[`${n}_device`] as ort.Tensor]));
    }
    this.release();
    this.resident = { cache, version: -1, capacity: Math.max(capacity, cache.capacity), tensors, carried };
    return this.entries(out.entry_keys as ort.Tensor, out.entry_values as ort.Tensor, newKeys, newValues);
  }

  /** The host copies of a step's new entries, and the step outputs' device buffers let go. */
  private entries(keys: ort.Tensor, values: ort.Tensor, ...device: ort.Tensor[]): HostEntries {
    this.transfer.downBytes += hostBytes([keys, values]);
    for (const t of device) if (t.location === 'gpu-buffer') t.dispose();
    return { keys: keys.data as Float32Array, values: values.data as Float32Array };
  }

  /** A run's new entries left on the device (a step session whose outputs stay there, run outside a step: a prefill), brought to the host. */
  async download(newKeys: ort.Tensor, newValues: ort.Tensor): Promise<HostEntries> {
    const out = await this.downloadSession.run({ new_keys: newKeys, new_values: newValues });
    return this.entries(out.new_keys_device as ort.Tensor, out.new_values_device as ort.Tensor, newKeys, newValues);
  }

  /**
   * Call after the host copy has the step's entries (KvSlots.writeStep): grows it as the
   * device copy grew, and records that the two are now equal.
   */
  settle(cache: KvSlots): void {
    const r = this.resident;
    if (r?.cache !== cache) return;
    cache.reserve(r.capacity);
    r.version = cache.version;
  }

  /** Lets the device buffers go. */
  release(): void {
    for (const t of [...Object.values(this.resident?.tensors ?? {}), ...Object.values(this.resident?.carried ?? {})]) if (t.location === 'gpu-buffer') t.dispose();
    this.resident = null;
  }

  async dispose(): Promise<void> {
    this.release();
    await this.session.release();
    await this.carrySession?.release();
    await this.downloadSession.release();
  }
}
