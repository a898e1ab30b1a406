// V8 keeps a string made by concatenation (`${a}:${b}`, a + b) as a tree of its parts, about
// 32 bytes a node, until something reads it as a whole; keys kept by the hundred thousand (a
// load balancer's backends) cost twice their size that way. Reading one character makes V8
// flatten the string into one piece and let the parts go.

/** The same string, flattened (call it on strings made to be kept, such as table keys). */
export function flat(s: string): string {
  if (s.length > 0) s.charCodeAt(0);
  return s;
}
