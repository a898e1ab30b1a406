import { expect, it } from 'vitest';
import { IdAllocator, IdError } from './ids.js';

it('hands out ids in order, wrapping, and never one a restored address still holds', () => {
  const ids = new IdAllocator('service', 1, 4);
  ids.restore('10.0.0.9:80/TCP', 2);
  expect(ids.acquire('a')).toBe(3);
  expect(ids.acquire('b')).toBe(4);
  expect(ids.acquire('c')).toBe(1);
  expect(() => ids.acquire('d')).toThrow(IdError);
  // The restored address gets its id back; an explicit id cannot take it from it.
  expect(ids.acquire('10.0.0.9:80/TCP')).toBe(2);
  const other = new IdAllocator('service', 1, 9);
  other.restore('old', 5);
  expect(() => other.acquire('new', 5)).toThrow(
    'service id 5 is still in the maps for another address; use another id',
  );
  other.forgetRestored();
  expect(other.acquire('new', 5)).toBe(5);
});

it('gives an address released lately its id again while that id is free', () => {
  const ids = new IdAllocator('backend', 1, 100);
  expect(ids.acquire('x')).toBe(1);
  expect(ids.acquire('y')).toBe(2);
  ids.release('x');
  expect(ids.acquire('z')).toBe(3);
  expect(ids.acquire('x')).toBe(1);
  // Taken by someone else meanwhile: a new one.
  ids.release('y');
  ids.release('x');
  expect(ids.acquire('w', 2)).toBe(2);
  expect(ids.acquire('y')).toBe(4);
});
