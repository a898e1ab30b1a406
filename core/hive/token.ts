/** A typed dependency-injection token: a symbol that remembers the type it stands for. */
export type Token<T> = symbol & { readonly __cellium?: T };

/** Creates a token; by convention the description is `'<cell-id>/<Name>'`. */
export function token<T>(description: string): Token<T> {
  return Symbol(description);
}

/** The readable name of a token, for messages and `cellium-agent hive`. */
export function tokenName(t: symbol): string {
  return t.description ?? t.toString();
}

/** A record of named tokens: what a constructor or invoke needs. */
export type Deps = Record<string, Token<unknown>>;

/** The params object a constructor receives for a given `Deps` record. */
export type Resolved<D extends Deps> = { [K in keyof D]: D[K] extends Token<infer T> ? T : never };

const optionalOf = new Map<symbol, symbol>();
const targetOf = new Map<symbol, symbol>();

/**
 * A dependency that may be absent (Cilium's `optional:"true"`): the params field is undefined
 * when no cell of the hive provides `t`, so a cell works in hives without, e.g., the metrics cell.
 */
export function optional<T>(t: Token<T>): Token<T | undefined> {
  let o = optionalOf.get(t);
  if (o === undefined) {
    o = Symbol(`${tokenName(t)}?`);
    optionalOf.set(t, o);
    targetOf.set(o, t);
  }
  return o;
}

/** The token an `optional(...)` token stands for, or undefined for a plain token. */
export function optionalTarget(t: symbol): symbol | undefined {
  return targetOf.get(t);
}
