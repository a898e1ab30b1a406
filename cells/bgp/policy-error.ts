// The error a peering policy file is refused with, naming the file, the object and the field,
// and the small structural checks that throw it.

/** Where in the file a value is: the file and the object (`CiliumBGPPeeringPolicy rack0`). */
export interface Where {
  readonly file: string;
  readonly object: string;
}

/** Why a policy file was refused: `<file>: <object>: <field>: <reason>`. */
export class PolicyFileError extends Error {
  override readonly name = 'PolicyFileError';

  constructor(w: Where, field: string, reason: string) {
    super([w.file, w.object, field, reason].filter((s) => s !== '').join(': '));
  }
}

/**
 * The value as an object whose keys are all in `known` (when given): a typo in a field name is
 * an error rather than a silently applied default.
 */
export function fieldsOf(
  v: unknown,
  w: Where,
  field: string,
  known?: readonly string[],
): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new PolicyFileError(
      w,
      field,
      `must be an object, not ${v === undefined ? 'nothing' : JSON.stringify(v)}`,
    );
  }
  const o = v as Record<string, unknown>;
  if (known) {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) {
        const at = field === '' ? k : `${field}.${k}`;
        throw new PolicyFileError(w, at, `unknown field (known: ${known.join(', ')})`);
      }
    }
  }
  return o;
}

/** The largest ASN (4-octet, RFC 6793). */
export const MAX_ASN = 4294967295;

/** An integer in min..max (absent: `def`, or an error when there is none). */
export function int(
  v: unknown,
  w: Where,
  field: string,
  min: number,
  max: number,
  def?: number,
): number {
  if (v === undefined || v === null) {
    if (def !== undefined) return def;
    throw new PolicyFileError(w, field, 'is required');
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new PolicyFileError(w, field, `${JSON.stringify(v)} is not an integer in ${min}..${max}`);
  }
  return v;
}

/** A boolean (absent: false). */
export function bool(v: unknown, w: Where, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean')
    throw new PolicyFileError(w, field, `${JSON.stringify(v)} is not true or false`);
  return v;
}

/** A list (absent: empty). */
export function list(v: unknown, w: Where, field: string): readonly unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PolicyFileError(w, field, 'must be a list');
  return v as unknown[];
}

/** A list of strings (absent: empty). */
export function strings(v: unknown, w: Where, field: string): string[] {
  return list(v, w, field).map((s, i) => {
    if (typeof s !== 'string') throw new PolicyFileError(w, `${field}[${i}]`, 'must be a string');
    return s;
  });
}
