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
