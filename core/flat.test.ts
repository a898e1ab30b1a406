import { expect, it } from 'vitest';
import { flat } from './flat.js';

it('returns the same string, empty included', () => {
  const parts = ['10.1.0.1', ':', 8080, '/', 'TCP'];
  expect(flat(`${parts[0]}${parts[1]}${parts[2]}${parts[3]}${parts[4]}`)).toBe('10.1.0.1:8080/TCP');
  expect(flat('')).toBe('');
});
