// What every benchmark section returns and prints: rows of a measure, its result and its goal.

/** One row of a benchmark table. */
export interface Row {
  readonly measure: string;
  readonly result: string;
  readonly goal: string;
}

/** The p-th percentile of `xs` (nearest rank). */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
