import { endpointRef, knownEndpoints, type KnownEndpoint, type PodCidr } from './agent-fuzz.js';
import { exchange, plain, type Exchange } from './fuzz-exchange.js';
import type { FuzzRequest } from './fuzz-target.js';
import { mutateValue, NASTY_STRINGS, rawBodyMutation, type Rng } from './spec-fuzz.js';

const NAMESPACES = ['default', 'ns1'];

function owner(rng: Rng): string {
  return `${rng.pick(NAMESPACES)}/p${rng.int(0, 19)}`;
}

function changeRequest(rng: Rng, ip: Record<string, string>, who: string): Record<string, unknown> {
  const [ns = 'default', pod = 'p0'] = who.split('/');
  // What names the endpoint and its addresses first, so a clipped report still shows it.
  return {
    addressing: ip,
    'k8s-namespace': ns,
    'k8s-pod-name': pod,
    state: 'waiting-for-identity',
    'interface-name': '',
    'interface-index': rng.int(0, 60),
    'container-id': `c-${ns}-${pod}-${rng.int(0, 3)}`,
    'container-interface-name': 'eth0',
    mac: '02:00:00:00:00:01',
    'host-mac': '02:00:00:00:00:02',
    labels: rng.shuffle(['k8s:app=web', 'k8s:role=db', 'k8s:tier=x']).slice(0, rng.int(1, 2)),
    'sync-build-endpoint': rng.chance(0.5),
  };
}

function addressing(ips: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ip of ips) out[ip.includes(':') ? 'ipv6' : 'ipv4'] = ip;
  return out;
}

/** One mutation of a stateful step: a body field, the raw body, a query value or the path id. */
function mutateStep(rng: Rng, req: FuzzRequest, template: string): FuzzRequest {
  if (req.body !== undefined && rng.chance(0.7)) {
    if (rng.chance(0.8)) {
      const m = mutateValue(rng, JSON.parse(req.body) as unknown);
      return { ...req, body: JSON.stringify(m.value), note: `stateful, ${m.note}` };
    }
    const m = rawBodyMutation(rng, req.body);
    return { ...req, body: m.value as string, note: `stateful, ${m.note}` };
  }
  const [path = '', qs = ''] = req.path.split('?', 2);
  const odd = rng.pick(NASTY_STRINGS.filter((s) => s.length < 300));
  const at = template.split('/').findIndex((seg) => seg.startsWith('{'));
  if (at < 0 || rng.chance(0.3)) {
    const q = new URLSearchParams(qs);
    const key = rng.pick([...q.keys(), 'owner', 'family']);
    q.set(key, odd);
    return {
      ...req,
      path: `${path}?${q.toString()}`,
      note: `stateful, query ${key} = ${JSON.stringify(odd)}`,
    };
  }
  const segs = path.split('/');
  segs[at] = encodeURIComponent(odd);
  return {
    ...req,
    path: segs.join('/') + (qs ? `?${qs}` : ''),
    note: `stateful, path id = ${JSON.stringify(odd)}`,
  };
}

/** The agent's state as the API shows it: endpoints, and IPAM's allocations (IP → owner). */
interface Observed {
  readonly eps: KnownEndpoint[];
  readonly allocs: Map<string, string>;
  /** Set when GET /endpoint itself failed. */
  readonly error?: string;
}

async function observe(x: Exchange): Promise<Observed> {
  const note = { note: 'read' };
  const eps = await exchange(x, plain('GetEndpoint', 'GET', '/endpoint', note), true);
  const hz = await exchange(x, plain('GetHealthz', 'GET', '/healthz', note), true);
  const allocations =
    (hz?.json as { ipam?: { allocations?: Record<string, string> } } | undefined)?.ipam
      ?.allocations ?? {};
  const allocs = new Map(Object.entries(allocations));
  if (eps?.status !== 200 || !Array.isArray(eps.json)) {
    const error = `GET /endpoint answers ${eps?.status ?? 'nothing'}: ${eps?.text.slice(0, 200) ?? ''}`;
    return { eps: [], allocs, error };
  }
  return { eps: knownEndpoints(eps.json), allocs };
}

/** The broken invariants of an observed state. */
function violations(x: Exchange, s: Observed): string[] {
  if (s.error !== undefined) return [s.error];
  const out: string[] = [];
  const holder = new Map<string, number>();
  for (const ep of s.eps) {
    for (const ip of ep.ips) {
      const other = holder.get(ip);
      if (other !== undefined) out.push(`IP ${ip} is used by endpoints ${other} and ${ep.id}`);
      holder.set(ip, ep.id);
      if (!x.pools.some((p) => p.contains(ip))) continue;
      const by = s.allocs.get(ip);
      // Whichever name the agent gives IPAM as the owner of an endpoint's IPs.
      const names = [ep.podName, ep.containerId, ep.cniAttachmentId, `endpoint ${ep.id}`];
      const owners = names.filter((o) => o !== '');
      if (by === undefined) {
        out.push(
          `IP ${ip} of endpoint ${ep.id} is not allocated in IPAM (can be handed out again)`,
        );
      } else if (!owners.includes(by)) {
        out.push(
          `IP ${ip} of endpoint ${ep.id} (${owners.join(', ')}) is allocated in IPAM to '${by}'`,
        );
      }
    }
  }
  return out;
}

/** The broken invariants of the agent's state now (read through the API). */
export async function invariantViolations(x: Exchange): Promise<string[]> {
  return violations(x, await observe(x));
}

function handedOut(req: FuzzRequest, json: unknown): string[] {
  if (req.op === 'PostIpam') {
    const a = (json as { address?: { ipv4?: string; ipv6?: string } } | undefined)?.address ?? {};
    return [a.ipv4, a.ipv6].filter((ip): ip is string => typeof ip === 'string');
  }
  if (req.op === 'PostIpamIP') {
    return [decodeURIComponent(req.path.split('?')[0]?.split('/')[2] ?? '')];
  }
  return [];
}

/**
 * Runs `steps` random IPAM/endpoint operations in random interleavings (a quarter of them
 * mutated). After each step the state is read back: a newly broken invariant is recorded with
 * the requests that led to it, and an IP that IPAM just handed out must not be an endpoint's.
 */
export async function runStateful(x: Exchange, rng: Rng, steps: number): Promise<void> {
  let state = await observe(x);
  let broken = new Set(violations(x, state));
  for (let step = 0; step < steps; step++) {
    let req = nextStep(rng, x.pools, state);
    if (rng.chance(0.25)) req = mutateStep(rng, req, x.spec.operations.get(req.op)?.path ?? '');
    const reply = await exchange(x, req);
    if (req.method === 'GET') continue;
    state = await observe(x);
    if (reply && reply.status < 300) {
      for (const ip of handedOut(req, reply.json)) {
        const ep = state.eps.find((e) => e.ips.includes(ip));
        if (ep) {
          x.log.add(
            'invariant',
            req.op,
            reply.status,
            `IPAM handed out ${ip}, which endpoint ${ep.id} holds`,
            req,
          );
        }
      }
    }
    const now = new Set(violations(x, state));
    for (const v of now) {
      if (broken.has(v)) continue;
      const trail = x.trail.lines().join('\n      ');
      x.log.add('invariant', req.op, reply?.status, v, req, `after:\n      ${trail}`);
    }
    broken = now;
  }
}

/** The next step: allocate, create, change, delete or release, aimed at what exists. */
function nextStep(rng: Rng, pools: readonly PodCidr[], s: Observed): FuzzRequest {
  const full = s.allocs.size >= 9;
  const kind = rng.weighted({
    alloc: full ? 1 : 6,
    allocIp: 1,
    create: 6,
    patch: 2,
    labels: 1,
    config: 1,
    delete: full ? 6 : 3,
    batchDelete: 1,
    release: full ? 6 : 3,
    read: 1,
  });
  const ep = s.eps.length > 0 ? rng.pick(s.eps) : undefined;
  const ref = encodeURIComponent(endpointRef(rng, ep));
  const allocated = [...s.allocs.entries()];
  const free = allocated.filter(([ip]) => !s.eps.some((e) => e.ips.includes(ip)));
  const anyIp = (): string => rng.pick(pools).random(rng);
  switch (kind) {
    case 'alloc': {
      const q = new URLSearchParams();
      if (rng.chance(0.9)) q.set('owner', owner(rng));
      if (rng.chance(0.7)) {
        q.set(
          'family',
          rng.chance(0.85) ? (pools[0]?.family ?? 'ipv4') : rng.pick(['ipv4', 'ipv6']),
        );
      }
      return plain('PostIpam', 'POST', `/ipam?${q.toString()}`, {
        headers: { expiration: 'true' },
      });
    }
    case 'allocIp':
      return plain(
        'PostIpamIP',
        'POST',
        `/ipam/${encodeURIComponent(anyIp())}?owner=${encodeURIComponent(owner(rng))}`,
      );
    case 'create': {
      const pick = free.length > 0 && rng.chance(0.85) ? rng.pick(free) : undefined;
      const who = pick && pick[1] !== '' && rng.chance(0.9) ? pick[1] : owner(rng);
      const id = rng.chance(0.8) ? 'cilium-local:0' : String(rng.int(1, 30));
      return plain('PutEndpointID', 'PUT', `/endpoint/${encodeURIComponent(id)}`, {
        body: changeRequest(rng, addressing([pick?.[0] ?? anyIp()]), who),
      });
    }
    case 'patch': {
      const other = allocated.length > 0 && rng.chance(0.5) ? rng.pick(allocated)[0] : anyIp();
      const ips = ep && rng.chance(0.5) ? ep.ips : [other];
      return plain('PatchEndpointID', 'PATCH', `/endpoint/${ref}`, {
        body: changeRequest(rng, addressing(ips), ep?.podName || owner(rng)),
      });
    }
    case 'labels': {
      const user = rng.shuffle(['app=special', 'k8s:role=db', 'team=a']).slice(0, rng.int(0, 2));
      return plain('PatchEndpointIDLabels', 'PATCH', `/endpoint/${ref}/labels`, { body: { user } });
    }
    case 'config': {
      const options = {
        [rng.pick(['Debug', 'PolicyAuditMode'])]: rng.pick(['Enabled', 'Disabled']),
      };
      return plain('PatchEndpointIDConfig', 'PATCH', `/endpoint/${ref}/config`, {
        body: { options },
      });
    }
    case 'delete':
      return plain('DeleteEndpointID', 'DELETE', `/endpoint/${ref}`);
    case 'batchDelete':
      return plain('DeleteEndpoint', 'DELETE', '/endpoint', {
        body: { 'container-id': ep?.containerId ?? 'c-none' },
      });
    case 'release': {
      // Mostly IPs nobody uses; sometimes one an endpoint holds, an owner, or any address.
      const pool = free.length > 0 && rng.chance(0.75) ? free : allocated;
      const a = pool.length > 0 && rng.chance(0.9) ? rng.pick(pool) : undefined;
      const what = a ? (rng.chance(0.85) ? a[0] : a[1]) : anyIp();
      return plain('DeleteIpamIP', 'DELETE', `/ipam/${encodeURIComponent(what)}`);
    }
    default:
      return ep
        ? plain('GetEndpointID', 'GET', `/endpoint/${ref}`, { note: 'read' })
        : plain('GetIP', 'GET', '/ip', { note: 'read' });
  }
}
