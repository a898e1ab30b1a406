import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './retry.js';

describe('retryDelayMs', () => {
  it('starts near a second, doubles, and stays under the cap whatever the jitter', () => {
    expect(retryDelayMs(0, 120, () => 0.5)).toBe(1000);
    expect(retryDelayMs(1, 120, () => 0.5)).toBe(2000);
    expect(retryDelayMs(0, 120, () => 0)).toBe(750);
    expect(retryDelayMs(0, 120, () => 1)).toBe(1250);
    expect(retryDelayMs(10, 120, () => 1)).toBe(120_000);
    expect(retryDelayMs(10, 120, () => 0)).toBe(90_000);
    expect(retryDelayMs(50, 5, () => 0.99)).toBeLessThanOrEqual(5000);
  });
});
