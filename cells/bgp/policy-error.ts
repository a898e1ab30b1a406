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
