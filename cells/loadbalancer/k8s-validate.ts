// What the Kubernetes translations check objects with: each value read where it is expected and
// refused (with the field's path) when it is not what the API promises, so a hostile or broken
// object is refused whole instead of half written.
import { canonicalIp } from './spec.js';
import type { L4Type } from './model.js';

/** What translating an object gave: a value, nothing to do (and why), or a refusal (and why). */
export type Translated<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'skip'; readonly why: string }
  | { readonly kind: 'invalid'; readonly problem: string };

/** A refusal: what is wrong and where (caught by guard). */
export class Invalid extends Error {}

/** Refuses the object being translated. */
export const fail = (problem: string): never => {
  throw new Invalid(problem);
};

/** A JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A list (absent: empty), or a refusal. */
export function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : fail(`${where} is not a list`);
}

/** A string (absent: ''), or a refusal. */
export function str(v: unknown, where: string): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : fail(`${where} is not a string`);
}

/** An integer in [min, max] (absent: undefined), or a refusal. */
export function int(v: unknown, where: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    return fail(`${where} is ${JSON.stringify(v)}, not an integer ${min}-${max}`);
  }
  return v;
}

/** A canonical IP address, or a refusal. */
export function ip(v: unknown, where: string): string {
  const s = str(v, where);
  return canonicalIp(s) ?? fail(`${where} ${JSON.stringify(s)} is not an IP address`);
}

/** TCP/UDP as the model's L4 type; undefined for SCTP, which the load balancer does not carry. */
export function protocol(v: unknown, where: string): L4Type | undefined {
  const p = str(v, where) || 'TCP';
  if (p === 'TCP') return 'tcp';
  if (p === 'UDP') return 'udp';
  if (p === 'SCTP') return undefined;
  return fail(`${where} ${JSON.stringify(p)} is not TCP, UDP or SCTP`);
}

/** The namespace and name of a namespaced object, or a refusal. */
export function meta(o: unknown): { namespace: string; name: string } {
  if (!isObject(o) || !isObject(o.metadata)) return fail('metadata is missing');
  const name = str(o.metadata.name, 'metadata.name');
  const namespace = str(o.metadata.namespace, 'metadata.namespace');
  if (name === '' || namespace === '') fail('metadata.name or metadata.namespace is empty');
  return { namespace, name };
}

/** Runs a translation, its refusals as `invalid`. */
export function guard<T>(fn: () => Translated<T>): Translated<T> {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Invalid) return { kind: 'invalid', problem: e.message };
    throw e;
  }
}
