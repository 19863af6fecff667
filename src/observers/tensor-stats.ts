// Calibration statistics gathered where the tensors are: the onnxruntime worker folds each
// batch's outputs into observers and only the small observer states cross the process boundary
// (every activation of bge-small at 128 tokens would be hundreds of MB per batch).
import { ChannelAbsMaxObserver, HistogramObserver, MinMaxObserver, type ObserverState } from "./observers.js";

export interface ObservedTensor {
  /** The graph output to read. */
  name: string;
  /** Name its statistics are kept under (default: name). */
  key?: string;
  /**
   * Multiply channel c of the last axis by scale[c] before observing: the statistics of a
   * smoothed tensor (X / s) computed from the unsmoothed graph's X.
   */
  channelScale?: Float32Array;
  observer: "minmax" | "histogram";
  /** Histogram bins (histogram observer). */
  bins?: number;
  /** Also keep max |x| per channel of the last axis (SmoothQuant). */
  channelAbsMax?: boolean;
  /** Also keep the elementwise sum over batches (a tensor the graph already reduced, e.g. a Gram matrix XᵀX). */
  sum?: boolean;
}

export interface ObserveSpec {
  tensors: ObservedTensor[];
}

export interface TensorStatistics {
  observer: ObserverState;
  channelAbsMax?: Float32Array;
  /** The elementwise sum over batches (summed in float64, sent as float32). */
  sum?: Float32Array;
}

interface Entry {
  observer: MinMaxObserver | HistogramObserver;
  channels?: ChannelAbsMaxObserver;
  sum?: Float64Array;
}

export class StatisticsCollector {
  private readonly entries = new Map<string, Entry>();

  observe(tensor: ObservedTensor, data: Float32Array, dims: readonly number[]): void {
    const key = tensor.key ?? tensor.name;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = {
        observer: tensor.observer === "histogram" ? new HistogramObserver(tensor.bins) : new MinMaxObserver(),
        ...(tensor.channelAbsMax ? { channels: new ChannelAbsMaxObserver() } : {}),
      };
      this.entries.set(key, entry);
    }
    const values = tensor.channelScale ? scaleChannels(data, tensor.channelScale) : data;
    entry.observer.observe(values);
    if (entry.channels && dims.length > 0) entry.channels.observe(values, dims[dims.length - 1]!);
    if (tensor.sum) {
      const sum = (entry.sum ??= new Float64Array(values.length));
      if (sum.length !== values.length)
        throw new Error(`${key} changed size from ${sum.length} to ${values.length} values: it cannot be summed`);
      for (let i = 0; i < values.length; i++) sum[i]! += values[i]!;
    }
  }

  /** Everything observed so far; the collector starts afresh unless `keep`. */
  collect(keep = false): Record<string, TensorStatistics> {
    const out: Record<string, TensorStatistics> = {};
    for (const [name, entry] of this.entries) {
      const channelAbsMax = entry.channels?.state();
      out[name] = {
        observer: entry.observer.state(),
        ...(channelAbsMax ? { channelAbsMax } : {}),
        ...(entry.sum ? { sum: Float32Array.from(entry.sum) } : {}),
      };
    }
    if (!keep) this.entries.clear();
    return out;
  }
}

function scaleChannels(data: Float32Array, scale: Float32Array): Float32Array {
  const channels = scale.length;
  if (data.length % channels !== 0) throw new Error(`${data.length} values do not split into ${channels} channels`);
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += channels) {
    for (let c = 0; c < channels; c++) out[i + c] = data[i + c]! * scale[c]!;
  }
  return out;
}
