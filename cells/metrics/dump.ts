import type { Registry } from 'prom-client';
import type { Model } from '../../core/api/index.js';

/**
 * Every metric of `registry` in Cilium's Metric model, as Cilium's DumpMetrics flattens them:
 * one entry per label set; a counter or gauge gives its value, a histogram or summary its sum
 * (its buckets, quantiles and count are left out), under the metric's own name.
 */
export async function dumpMetrics(registry: Registry): Promise<Model<'Metric'>[]> {
  const out: Model<'Metric'>[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    // prom-client's typings say an enum; at run time the type is its text ('histogram', ...).
    const type = m.type as unknown as string;
    const flat = type === 'histogram' || type === 'summary';
    for (const v of m.values as { value: number; labels: object; metricName?: string }[]) {
      if (flat && v.metricName !== `${m.name}_sum`) continue;
      // JSON has no NaN or infinities (a gauge nobody set yet, a summary's empty quantile).
      if (!Number.isFinite(v.value)) continue;
      const labels: Record<string, string> = {};
      for (const [k, l] of Object.entries(v.labels)) labels[k] = String(l);
      out.push({ name: m.name, labels, value: v.value });
    }
  }
  return out;
}
