// Reads and writes keys of a test etcd directly, through its v3 JSON gateway, as an operator or a
// hostile writer would: what tests put there bypasses every agent.

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

/** The key just after every key with this prefix (etcd's range end for a prefix). */
function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  b[b.length - 1] = (b[b.length - 1] ?? 0) + 1;
  return b.toString('base64');
}

async function call<T>(endpoint: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${endpoint}/v3/${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Writes a key (no lease: it stays until deleted). */
export async function etcdPut(endpoint: string, key: string, value: string): Promise<void> {
  await call(endpoint, 'kv/put', { key: b64(key), value: b64(value) });
}

/** Deletes a key. */
export async function etcdDelete(endpoint: string, key: string): Promise<void> {
  await call(endpoint, 'kv/deleterange', { key: b64(key) });
}

/** Every key under a prefix with its value. */
export async function etcdList(endpoint: string, prefix: string): Promise<Map<string, string>> {
  const r = await call<{ kvs?: { key: string; value?: string }[] }>(endpoint, 'kv/range', {
    key: b64(prefix),
    range_end: prefixEnd(prefix),
  });
  return new Map(
    (r.kvs ?? []).map((kv) => [
      Buffer.from(kv.key, 'base64').toString(),
      Buffer.from(kv.value ?? '', 'base64').toString(),
    ]),
  );
}

/** The lease a key is bound to ('0' or undefined: none, or no such key). */
export async function etcdLeaseOf(endpoint: string, key: string): Promise<string | undefined> {
  const r = await call<{ kvs?: { lease?: string }[] }>(endpoint, 'kv/range', { key: b64(key) });
  return r.kvs?.[0]?.lease;
}

/** Revokes a lease (its keys vanish), as etcd does when a session's TTL runs out. */
export async function etcdRevoke(endpoint: string, lease: string): Promise<void> {
  await call(endpoint, 'lease/revoke', { ID: lease });
}
