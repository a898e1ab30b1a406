/** Something that answers fetch-style requests without a socket (a hono app). */
export interface RequestTarget {
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}

/** A reply: the status and the parsed JSON body (undefined when there is none). */
export interface ApiTestReply {
  readonly status: number;
  readonly body: unknown;
}

/** Sends a request to `/v1<path>` of an API app and parses the JSON reply (tests). */
export async function apiRequest(
  app: RequestTarget,
  method: string,
  path: string,
  opts: { readonly body?: unknown; readonly headers?: Record<string, string> } = {},
): Promise<ApiTestReply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(`/v1${path}`, {
    method,
    headers,
    ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
  });
  const body: unknown = await res.json().catch(() => undefined);
  return { status: res.status, body };
}
