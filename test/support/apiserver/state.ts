// The API server double's semantics, without HTTP: resources (built-in and from CRDs), create /
// get / list / update / patch / delete with kube-apiserver's rules (resourceVersion conflicts,
// status subresource, generation, no-op updates, finalizers, namespace and CRD cascades), and
// watches (from a resourceVersion, synthetic ADDED for "" and "0", bookmarks, 410 Expired).
import { randomBytes, randomUUID } from 'node:crypto';
import {
  defaultPodSpec,
  establishedStatus,
  nameCauses,
  podSpecUpdateCause,
  prepareCreate,
  type ServiceRange,
} from './defaults.js';
import { isObject, jsonPatch, mergePatch, strategicMergePatch, type JsonObject } from './patch.js';
import {
  apiVersionOf,
  BUILTIN,
  crdResources,
  qualifiedName,
  type ResourceDef,
} from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  expired,
  invalid,
  notFound,
} from './status.js';
import { keyOf, Store } from './store.js';
import { prepareWatch, type OpenWatch, type WatchQuery, type WatchSink } from './watch.js';

export type { OpenWatch, WatchQuery, WatchSink } from './watch.js';
import { parse as parseYaml } from 'yaml';

/** The patch formats, by Content-Type. */
export type PatchType =
  | 'application/json-patch+json'
  | 'application/merge-patch+json'
  | 'application/strategic-merge-patch+json'
  | 'application/apply-patch+yaml';

/** The query of a list. */
export interface ListQuery {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly limit?: number;
  readonly continue?: string;
  readonly resourceVersion?: string;
  readonly resourceVersionMatch?: string;
}

/** Options of the double's state. */
export interface StateOptions {
  readonly firstResourceVersion: number;
  readonly historyLimit: number;
  readonly serviceRange: ServiceRange;
  readonly bookmarkIntervalMs: number;
  /** Watches without timeoutSeconds end after this long (kube-apiserver: --min-request-timeout); 0: never. */
  readonly watchTimeoutSeconds: number;
  /** 'async' (default): a CRD becomes Established right after its create; 'manual': on establishCrds(). */
  readonly crdEstablishment: 'async' | 'manual';
  /** Deletes dependents whose owners (metadata.ownerReferences) are all gone, as the GC controller does. */
  readonly garbageCollection: boolean;
  /** A pod on a node is first marked (deletionTimestamp, MODIFIED), then deleted as its kubelet would. */
  readonly gracefulPodDeletion: boolean;
}

/** Options of a write. */
export interface WriteOptions {
  readonly dryRun?: boolean;
  /** Keep the status given on create (direct test access: as if a controller had written it). */
  readonly keepStatus?: boolean;
  readonly fieldManager?: string;
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** JSON with sorted keys, to compare objects whatever their key order. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v))
    return `{${Object.keys(v)
      .sort()
      .filter((k) => v[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

function meta(o: JsonObject): JsonObject {
  return isObject(o.metadata) ? o.metadata : {};
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function labelsOf(o: JsonObject): Record<string, string> {
  const l = meta(o).labels;
  return isObject(l) ? (l as Record<string, string>) : {};
}

// Everything but metadata and status: what bumps metadata.generation when it changes.
function specPart(o: JsonObject): string {
  const { metadata: _m, status: _s, ...rest } = o;
  return canonical(rest);
}

function withoutRv(o: JsonObject): string {
  const { resourceVersion: _r, managedFields: _f, ...m } = meta(o);
  return canonical({ ...o, metadata: m });
}

/** The double's whole state and its API verbs. */
export class ApiState {
  readonly store: Store;
  private readonly defs = new Map<string, ResourceDef>();
  private readonly watches = new Set<OpenWatch>();
  private readonly crdDefs = new Map<string, ResourceDef[]>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: StateOptions) {
    this.store = new Store(opts.firstResourceVersion, opts.historyLimit);
    for (const d of BUILTIN) this.register(d);
  }

  private register(d: ResourceDef): void {
    this.defs.set(`${apiVersionOf(d)}/${d.plural}`, d);
  }

  /** Every served resource. */
  resources(): ResourceDef[] {
    return [...this.defs.values()];
  }

  /** The resource served at group/version/plural. */
  resolve(group: string, version: string, plural: string): ResourceDef | undefined {
    return this.defs.get(`${group ? `${group}/` : ''}${version}/${plural}`);
  }

  /**
   * A resource by the name tests use: `pods`, `ciliumendpoints` (plural, when one group has it),
   * `ciliumendpoints.cilium.io`, or `cilium.io/v2/ciliumendpoints`.
   */
  resource(name: string): ResourceDef {
    const all = this.resources();
    const found =
      all.find((d) => `${apiVersionOf(d)}/${d.plural}` === name) ??
      all.find((d) => qualifiedName(d) === name) ??
      all.find((d) => d.plural === name);
    if (!found) throw new Error(`the API server double serves no resource "${name}"`);
    return found;
  }

  /** The object as served at `def`'s version. */
  out(def: ResourceDef, o: JsonObject): JsonObject {
    return { ...o, apiVersion: apiVersionOf(def), kind: def.kind };
  }

  private checkBody(def: ResourceDef, body: unknown): JsonObject {
    if (!isObject(body)) throw badRequest('the body of the request is not a JSON object');
    if (body.kind !== undefined && body.kind !== def.kind)
      throw badRequest(
        `the kind in the data (${str(body.kind)}) does not match the expected kind (${def.kind})`,
      );
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(def))
      throw badRequest(
        `the API version in the data (${str(body.apiVersion)}) does not match the expected API version (${apiVersionOf(def)})`,
      );
    return structuredClone(body);
  }

  private services(): JsonObject[] {
    return this.store.values('services');
  }

  /** Creates an object (POST). */
  create(
    def: ResourceDef,
    namespace: string | undefined,
    body: unknown,
    wo: WriteOptions = {},
  ): JsonObject {
    const o = this.checkBody(def, body);
    if (!isObject(o.metadata)) o.metadata = {};
    const m = o.metadata as JsonObject;
    if (def.namespaced) {
      if (m.namespace !== undefined && m.namespace !== '' && m.namespace !== namespace)
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      if (!namespace) throw badRequest('a namespaced resource needs a namespace');
      m.namespace = namespace;
    } else delete m.namespace;
    if (m.resourceVersion !== undefined && m.resourceVersion !== '')
      throw new ApiError(
        500,
        'InternalError',
        'resourceVersion should not be set on objects to be created',
      );
    if (!m.name && typeof m.generateName === 'string' && m.generateName) {
      const chars = 'bcdfghjklmnpqrstvwxz2456789';
      m.name = m.generateName + [...randomBytes(5)].map((b) => chars[b % chars.length]).join('');
    }
    const name = str(m.name);
    const causes = [
      ...nameCauses(def, name),
      ...(def.custom
        ? []
        : prepareCreate(
            def,
            o,
            { serviceRange: this.opts.serviceRange, services: () => this.services() },
            !wo.keepStatus,
          )),
    ];
    if (def.custom && def.status && !wo.keepStatus) delete o.status;
    if (causes.length > 0) throw invalid(def, def.kind, name, causes);
    if (def.namespaced && !this.store.get('namespaces', namespace ?? ''))
      throw notFound({ group: '', plural: 'namespaces' }, namespace ?? '');
    const res = qualifiedName(def);
    const key = keyOf(namespace, name);
    if (this.store.get(res, key)) throw alreadyExists(def, name);
    Object.assign(m, { uid: randomUUID(), creationTimestamp: now(), generation: 1 });
    delete m.deletionTimestamp;
    delete m.resourceVersion;
    const stored = { ...o, apiVersion: apiVersionOf(def), kind: def.kind };
    if (wo.dryRun) return stored;
    const saved = this.store.commit('ADDED', res, key, stored);
    if (def.kind === 'CustomResourceDefinition') this.crdChanged(name);
    return this.out(def, saved);
  }

  /** Reads one object (GET). */
  get(def: ResourceDef, namespace: string | undefined, name: string): JsonObject {
    const o = this.store.get(
      qualifiedName(def),
      keyOf(def.namespaced ? namespace : undefined, name),
    );
    if (!o) throw notFound(def, name);
    return this.out(def, o);
  }

  /** Replaces an object (PUT), or its status (PUT .../status). */
  update(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    body: unknown,
    sub: 'status' | undefined,
    wo: WriteOptions = {},
  ): JsonObject {
    const b = this.checkBody(def, body);
    const bm = meta(b);
    if (bm.name !== undefined && bm.name !== name)
      throw badRequest(
        `the name of the object (${str(bm.name)}) does not match the name on the URL (${name})`,
      );
    if (
      def.namespaced &&
      bm.namespace !== undefined &&
      bm.namespace !== '' &&
      bm.namespace !== namespace
    )
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    const res = qualifiedName(def);
    const key = keyOf(def.namespaced ? namespace : undefined, name);
    const cur = this.store.get(res, key);
    if (!cur) throw notFound(def, name);
    const cm = meta(cur);
    // Custom resources and CRDs refuse unconditional updates (AllowUnconditionalUpdate false).
    if (
      (def.custom || def.kind === 'CustomResourceDefinition') &&
      (bm.resourceVersion === undefined || bm.resourceVersion === '')
    )
      throw invalid(def, def.kind, name, [
        {
          reason: 'FieldValueInvalid',
          field: 'metadata.resourceVersion',
          message: 'Invalid value: 0x0: must be specified for an update',
        },
      ]);
    if (
      bm.resourceVersion !== undefined &&
      bm.resourceVersion !== '' &&
      bm.resourceVersion !== cm.resourceVersion
    )
      throw conflict(def, name);
    let next: JsonObject;
    if (sub === 'status') {
      next = { ...cur, status: b.status };
      if (b.status === undefined) delete next.status;
    } else {
      const keep = Object.fromEntries(
        [
          'uid',
          'creationTimestamp',
          'generation',
          'deletionTimestamp',
          'deletionGracePeriodSeconds',
          'namespace',
          'name',
        ]
          .filter((k) => cm[k] !== undefined)
          .map((k) => [k, cm[k]]),
      );
      next = { ...b, apiVersion: cur.apiVersion, kind: cur.kind, metadata: { ...bm, ...keep } };
      if (def.status) {
        next.status = cur.status;
        if (cur.status === undefined) delete next.status;
      }
      this.keepAllocated(def, cur, next);
      if (def.kind === 'Pod') {
        if (isObject(next.spec)) defaultPodSpec(next.spec);
        const why = podSpecUpdateCause(cur.spec, next.spec);
        if (why) throw invalid(def, def.kind, name, [why]);
      }
    }
    if (specPart(next) !== specPart(cur))
      (next.metadata as JsonObject).generation = Number(cm.generation ?? 0) + 1;
    if (withoutRv(next) === withoutRv(cur)) return this.out(def, cur);
    if (wo.dryRun) return this.out(def, next);
    const nm = next.metadata as JsonObject;
    const fin = nm.finalizers;
    if (nm.deletionTimestamp !== undefined && (!Array.isArray(fin) || fin.length === 0))
      return this.out(def, this.finalDelete(def, res, key, next, cur));
    const saved = this.store.commit('MODIFIED', res, key, next, cur);
    if (def.kind === 'CustomResourceDefinition') this.crdChanged(name);
    return this.out(def, saved);
  }

  // A Service's allocated ClusterIP and NodePorts stay when an update leaves them out.
  private keepAllocated(def: ResourceDef, cur: JsonObject, next: JsonObject): void {
    if (def.kind === 'Namespace') {
      const labels = isObject(meta(next).labels) ? (meta(next).labels as JsonObject) : {};
      (next.metadata as JsonObject).labels = {
        ...labels,
        'kubernetes.io/metadata.name': str(meta(cur).name),
      };
    }
    if (def.kind !== 'Service' || !isObject(cur.spec) || !isObject(next.spec)) return;
    const [c, n] = [cur.spec, next.spec];
    if (n.clusterIP === undefined || n.clusterIP === '') n.clusterIP = c.clusterIP;
    n.clusterIPs ??= c.clusterIPs;
    n.ipFamilies ??= c.ipFamilies;
    n.ipFamilyPolicy ??= c.ipFamilyPolicy;
    if (Array.isArray(n.ports) && Array.isArray(c.ports))
      for (const p of n.ports as unknown[]) {
        if (!isObject(p) || p.nodePort !== undefined) continue;
        const old = (c.ports as unknown[]).find((q) => isObject(q) && q.port === p.port);
        if (isObject(old) && old.nodePort !== undefined && n.type !== 'ClusterIP')
          p.nodePort = old.nodePort;
      }
  }

  /** Binds a pod to a node (POST pods/<name>/binding): sets spec.nodeName, once. */
  bind(namespace: string | undefined, name: string, body: unknown): JsonObject {
    const def = this.resource('pods');
    const key = keyOf(namespace, name);
    const cur = this.store.get('pods', key);
    if (!cur) throw notFound(def, name);
    const target = isObject(body) && isObject(body.target) ? body.target : {};
    const node = str(target.name);
    if (!node)
      throw invalid(def, 'Binding', name, [
        { reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' },
      ]);
    const spec = isObject(cur.spec) ? cur.spec : {};
    if (spec.nodeName)
      throw conflict(def, name, `pod ${name} is already assigned to node "${str(spec.nodeName)}"`);
    this.store.commit('MODIFIED', 'pods', key, { ...cur, spec: { ...spec, nodeName: node } }, cur);
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  }

  /** Patches an object (PATCH) or its status; an apply patch creates what is missing. */
  patch(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    body: string,
    sub: 'status' | undefined,
    wo: WriteOptions = {},
  ): JsonObject {
    if (type === 'application/strategic-merge-patch+json' && def.custom)
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      );
    let parsed: unknown;
    try {
      parsed = type === 'application/apply-patch+yaml' ? parseYaml(body) : JSON.parse(body);
    } catch (e) {
      throw badRequest(`error decoding patch: ${e instanceof Error ? e.message : String(e)}`);
    }
    const key = keyOf(def.namespaced ? namespace : undefined, name);
    const cur = this.store.get(qualifiedName(def), key);
    if (type === 'application/apply-patch+yaml') {
      if (!wo.fieldManager) throw badRequest('PATCH: fieldManager is required for apply requests');
      if (!cur) {
        if (sub) throw notFound(def, name);
        return this.create(def, namespace, parsed, wo);
      }
    }
    if (!cur) throw notFound(def, name);
    const base = this.out(def, cur);
    let patched: unknown;
    switch (type) {
      case 'application/json-patch+json':
        patched = jsonPatch(base, parsed, def, def.kind, name);
        break;
      case 'application/merge-patch+json':
        patched = mergePatch(base, parsed);
        break;
      default:
        patched = def.custom ? mergePatch(base, parsed) : strategicMergePatch(base, parsed);
    }
    if (!isObject(patched))
      throw invalid(def, def.kind, name, [{ field: '', message: 'not an object' }]);
    const pm = isObject(patched.metadata) ? patched.metadata : {};
    if (pm.resourceVersion !== meta(cur).resourceVersion && pm.resourceVersion !== undefined)
      throw conflict(def, name);
    patched.metadata = { ...pm, resourceVersion: meta(cur).resourceVersion };
    return this.update(def, namespace, name, patched, sub, wo);
  }

  /** Deletes an object (DELETE): at once, or marked for deletion while it has finalizers. */
  delete(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    opts: { preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: boolean } = {},
  ): JsonObject {
    const res = qualifiedName(def);
    const key = keyOf(def.namespaced ? namespace : undefined, name);
    const cur = this.store.get(res, key);
    if (!cur) throw notFound(def, name);
    const cm = meta(cur);
    const pre = opts.preconditions ?? {};
    if (pre.uid !== undefined && pre.uid !== cm.uid)
      throw conflict(
        def,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${str(cm.uid)}`,
      );
    if (pre.resourceVersion !== undefined && pre.resourceVersion !== cm.resourceVersion)
      throw conflict(
        def,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${str(cm.resourceVersion)}`,
      );
    if (opts.dryRun) return this.out(def, cur);
    const fin = cm.finalizers;
    if (Array.isArray(fin) && fin.length > 0) {
      if (cm.deletionTimestamp !== undefined) return this.out(def, cur);
      const marked = {
        ...cur,
        metadata: { ...cm, deletionTimestamp: now(), deletionGracePeriodSeconds: 0 },
      };
      return this.out(def, this.store.commit('MODIFIED', res, key, marked, cur));
    }
    const spec = isObject(cur.spec) ? cur.spec : {};
    if (def.kind === 'Pod' && this.opts.gracefulPodDeletion && spec.nodeName) {
      if (cm.deletionTimestamp !== undefined) return this.out(def, cur);
      const marked = {
        ...cur,
        metadata: { ...cm, deletionTimestamp: now(), deletionGracePeriodSeconds: 30 },
      };
      const saved = this.store.commit('MODIFIED', res, key, marked, cur);
      // The kubelet confirms with a delete of grace period 0 once the containers stopped.
      this.later(() => {
        const o = this.store.get(res, key);
        const f = o ? meta(o).finalizers : undefined;
        if (o && meta(o).uid === cm.uid && !(Array.isArray(f) && f.length > 0))
          this.finalDelete(def, res, key, o, o);
      });
      return this.out(def, saved);
    }
    if (def.kind === 'Namespace') {
      const terminating = {
        ...cur,
        metadata: { ...cm, deletionTimestamp: now(), deletionGracePeriodSeconds: 0 },
        status: { phase: 'Terminating' },
      };
      const t = this.store.commit('MODIFIED', res, key, terminating, cur);
      for (const d of this.storageDefs())
        if (d.namespaced)
          for (const [k, o] of this.store.current(qualifiedName(d)))
            if (k.startsWith(`${name}/`)) this.store.commit('DELETED', qualifiedName(d), k, o, o);
      this.finalDelete(def, res, key, t, t);
      return this.out(def, t);
    }
    return this.out(def, this.finalDelete(def, res, key, cur, cur));
  }

  private finalDelete(
    def: ResourceDef,
    res: string,
    key: string,
    last: JsonObject,
    prev: JsonObject,
  ): JsonObject {
    if (def.kind === 'CustomResourceDefinition') this.removeCrd(key);
    const gone = this.store.commit('DELETED', res, key, last, prev);
    const uid = meta(last).uid;
    if (this.opts.garbageCollection && typeof uid === 'string') this.later(() => this.collect(uid));
    return gone;
  }

  // Runs `fn` on a later turn (what a controller does after the fact), unless closed first.
  private later(fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, 0);
    this.timers.add(t);
  }

  // The garbage collector: objects owned by `uid` and by no other existing object are deleted.
  private collect(uid: string): void {
    const defs = this.storageDefs();
    const uids = new Set<unknown>();
    for (const d of defs)
      for (const o of this.store.values(qualifiedName(d))) uids.add(meta(o).uid);
    for (const d of defs)
      for (const o of this.store.values(qualifiedName(d))) {
        const refs = meta(o).ownerReferences;
        if (!Array.isArray(refs) || !refs.some((r) => isObject(r) && r.uid === uid)) continue;
        if (refs.some((r) => isObject(r) && r.uid !== uid && uids.has(r.uid))) continue;
        const m = meta(o);
        try {
          this.delete(d, str(m.namespace) || undefined, str(m.name));
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }
  }

  // One def per stored resource (a CRD's versions share their objects).
  private storageDefs(): ResourceDef[] {
    const seen = new Map<string, ResourceDef>();
    for (const d of this.defs.values())
      if (!seen.has(qualifiedName(d))) seen.set(qualifiedName(d), d);
    return [...seen.values()];
  }

  /** Deletes the objects a list query selects (DELETE on a collection). */
  deleteCollection(def: ResourceDef, namespace: string | undefined, q: ListQuery): JsonObject {
    const l = this.list(def, namespace, {
      labelSelector: q.labelSelector,
      fieldSelector: q.fieldSelector,
    });
    for (const o of l.items as JsonObject[])
      this.delete(def, str(meta(o).namespace) || undefined, str(meta(o).name));
    return l;
  }

  private matcher(
    def: ResourceDef,
    namespace: string | undefined,
    labelSelector?: string,
    fieldSelector?: string,
  ) {
    const lm = parseLabelSelector(labelSelector);
    const fm = parseFieldSelector(fieldSelector, {
      'metadata.name': (o) => str(meta(o).name),
      'metadata.namespace': (o) => str(meta(o).namespace),
      ...def.fields,
    });
    const ns = def.namespaced ? namespace : undefined;
    return (o: JsonObject): boolean =>
      (ns === undefined || meta(o).namespace === ns) && lm(labelsOf(o)) && fm(o);
  }

  /** Lists objects (GET on a collection): selectors, pagination, resourceVersion semantics. */
  list(def: ResourceDef, namespace: string | undefined, q: ListQuery): JsonObject {
    const match = this.matcher(def, namespace, q.labelSelector, q.fieldSelector);
    const res = qualifiedName(def);
    let rv = this.store.rv;
    let start = '';
    if (q.continue) {
      let tok: unknown;
      try {
        tok = JSON.parse(Buffer.from(q.continue, 'base64').toString('utf8'));
      } catch {
        tok = undefined;
      }
      if (!isObject(tok) || typeof tok.rv !== 'number' || typeof tok.start !== 'string')
        throw badRequest(
          'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
        );
      if (tok.rv < this.store.compacted)
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      [rv, start] = [tok.rv, tok.start];
    } else if (
      q.resourceVersion !== undefined &&
      q.resourceVersion !== '' &&
      q.resourceVersion !== '0'
    ) {
      const want = Number(q.resourceVersion);
      if (!Number.isInteger(want) || want < 0)
        throw badRequest(
          `resourceVersion: Invalid value: "${q.resourceVersion}": must be a number`,
        );
      if (want > this.store.rv)
        throw new ApiError(
          504,
          'Timeout',
          `Timeout: Too large resource version: ${want}, current: ${this.store.rv}`,
          {
            causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
            retryAfterSeconds: 1,
          },
        );
      // Exact (and a paginated list at a resourceVersion, served from etcd) reads that revision.
      if (
        q.resourceVersionMatch === 'Exact' ||
        (q.resourceVersionMatch === undefined && q.limit !== undefined && q.limit > 0)
      ) {
        if (want < this.store.compacted)
          throw expired(`too old resource version: ${want} (${this.store.compacted})`);
        rv = want;
      }
    }
    const all = (rv === this.store.rv ? this.store.current(res) : this.store.at(res, rv)).filter(
      ([k, o]) => k > start && match(o),
    );
    const limit = q.limit !== undefined && q.limit > 0 ? q.limit : all.length;
    const page = all.slice(0, limit);
    const rest = all.length - page.length;
    const listMeta: JsonObject = { resourceVersion: String(rv) };
    const last = page[page.length - 1];
    if (rest > 0 && last) {
      listMeta.continue = Buffer.from(
        JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: last[0] }),
      ).toString('base64');
      if (!q.labelSelector && !q.fieldSelector) listMeta.remainingItemCount = rest;
    }
    return {
      kind: def.listKind,
      apiVersion: apiVersionOf(def),
      metadata: listMeta,
      // Built-in lists carry items without kind and apiVersion, as kube-apiserver's do.
      items: page.map(([, o]) => {
        if (def.custom) return this.out(def, o);
        const { kind: _k, apiVersion: _a, ...item } = o;
        return item;
      }),
    };
  }

  /**
   * Checks a watch's query (400 for bad selectors or resourceVersion) and returns what starts it
   * on a sink (watch.ts).
   */
  watch(
    def: ResourceDef,
    namespace: string | undefined,
    q: WatchQuery,
  ): (sink: WatchSink) => OpenWatch {
    return prepareWatch(
      {
        store: this.store,
        out: (d, o) => this.out(d, o),
        watches: this.watches,
        bookmarkIntervalMs: this.opts.bookmarkIntervalMs,
        watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
      },
      def,
      namespace,
      q,
      this.matcher(def, namespace, q.labelSelector, q.fieldSelector),
    );
  }

  /**
   * Stores an object exactly as given (no validation, no defaulting: malformed or hostile content
   * for tests of the agent's input checks) and publishes it as ADDED or MODIFIED.
   */
  injectRaw(def: ResourceDef, obj: JsonObject, key: string): JsonObject {
    const res = qualifiedName(def);
    const prev = this.store.get(res, key);
    return this.store.commit(prev ? 'MODIFIED' : 'ADDED', res, key, obj, prev);
  }

  /** The watches being served now. */
  openWatches(): OpenWatch[] {
    return [...this.watches];
  }

  // A CRD was created or changed: (re)serve its versions once it is Established.
  private crdChanged(name: string): void {
    const crd = this.store.get('customresourcedefinitions.apiextensions.k8s.io', name);
    if (!crd) return;
    const conds =
      isObject(crd.status) && Array.isArray(crd.status.conditions) ? crd.status.conditions : [];
    const established = conds.some(
      (c) => isObject(c) && c.type === 'Established' && c.status === 'True',
    );
    if (established) this.serveCrd(name, crd);
    else if (this.opts.crdEstablishment === 'async') this.later(() => this.establish(name));
  }

  /** Marks a CRD Established (as kube-apiserver's controllers do) and serves its resources. */
  establish(name: string): void {
    const crd = this.store.get('customresourcedefinitions.apiextensions.k8s.io', name);
    if (!crd) return;
    const def = this.resource('customresourcedefinitions');
    this.update(def, undefined, name, { ...crd, status: establishedStatus(crd, now()) }, 'status');
  }

  private serveCrd(name: string, crd: JsonObject): void {
    const old = this.crdDefs.get(name) ?? [];
    const next = crdResources(crd);
    for (const d of old)
      if (!next.some((n) => n.version === d.version))
        this.defs.delete(`${apiVersionOf(d)}/${d.plural}`);
    for (const d of next) this.register(d);
    this.crdDefs.set(name, next);
  }

  // A CRD is going: its objects are deleted (DELETED events), its watches end, its paths 404.
  private removeCrd(name: string): void {
    const defs = this.crdDefs.get(name) ?? [];
    const first = defs[0];
    if (first) {
      const res = qualifiedName(first);
      for (const [k, o] of this.store.current(res)) this.store.commit('DELETED', res, k, o, o);
      for (const w of this.openWatches()) if (w.resource === res) w.end();
      this.store.drop(res);
    }
    for (const d of defs) this.defs.delete(`${apiVersionOf(d)}/${d.plural}`);
    this.crdDefs.delete(name);
  }

  /** Stops timers (pending CRD establishment) and ends every watch. */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.openWatches()) w.end(true);
  }
}
