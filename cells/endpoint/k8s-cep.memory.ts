// An in-memory CepApi for cell tests: the API server's rules for these calls (resourceVersion
// checked on replace, 409 on an existing create, 404 on a missing replace), and failures a test
// switches on to see retries.
import { CepApiError, type CepApi, type CiliumEndpointObject } from './k8s-cep-api.js';

/** A CepApi over a map, with a failure switch. */
export class MemoryCepApi implements CepApi {
  readonly objects = new Map<string, CiliumEndpointObject>();
  private rv = 0;
  /** While set, every call fails with this HTTP status. */
  failWith: number | undefined;
  /** While set, every call waits for its signal (an API server that never answers). */
  hang = false;
  /** Calls made, as `verb ns/name`. */
  readonly calls: string[] = [];

  private check(verb: string, ns: string, name: string): void {
    this.calls.push(`${verb} ${ns}/${name}`);
    if (this.failWith !== undefined) throw new CepApiError(this.failWith, `${verb}: injected`);
  }

  /** With `hang`: a call that ends only when its signal aborts (as client-node's with the options). */
  private hung(signal: AbortSignal | undefined): Promise<never> | undefined {
    if (!this.hang) return undefined;
    return new Promise<never>((_, reject) => {
      signal?.addEventListener('abort', () => reject(new CepApiError(0, 'aborted')), {
        once: true,
      });
    });
  }

  private stored(o: CiliumEndpointObject): CiliumEndpointObject {
    const copy = structuredClone(o);
    copy.metadata.resourceVersion = String(++this.rv);
    copy.metadata.uid ??= `uid-${this.rv}`;
    this.objects.set(`${o.metadata.namespace ?? ''}/${o.metadata.name}`, copy);
    return structuredClone(copy);
  }

  get(ns: string, name: string, signal?: AbortSignal): Promise<CiliumEndpointObject | undefined> {
    this.check('get', ns, name);
    const hung = this.hung(signal);
    if (hung) return hung;
    const o = this.objects.get(`${ns}/${name}`);
    return Promise.resolve(o ? structuredClone(o) : undefined);
  }

  create(obj: CiliumEndpointObject, signal?: AbortSignal): Promise<CiliumEndpointObject> {
    const ns = obj.metadata.namespace ?? '';
    this.check('create', ns, obj.metadata.name);
    const hung = this.hung(signal);
    if (hung) return hung;
    if (this.objects.has(`${ns}/${obj.metadata.name}`)) {
      return Promise.reject(new CepApiError(409, 'already exists'));
    }
    return Promise.resolve(this.stored(obj));
  }

  replace(obj: CiliumEndpointObject, signal?: AbortSignal): Promise<CiliumEndpointObject> {
    const ns = obj.metadata.namespace ?? '';
    this.check('update', ns, obj.metadata.name);
    const hung = this.hung(signal);
    if (hung) return hung;
    const cur = this.objects.get(`${ns}/${obj.metadata.name}`);
    if (!cur) return Promise.reject(new CepApiError(404, 'not found'));
    if (cur.metadata.resourceVersion !== obj.metadata.resourceVersion) {
      return Promise.reject(new CepApiError(409, 'conflict'));
    }
    return Promise.resolve(
      this.stored({ ...obj, metadata: { ...obj.metadata, uid: cur.metadata.uid } }),
    );
  }

  delete(ns: string, name: string, signal?: AbortSignal): Promise<void> {
    this.check('delete', ns, name);
    const hung = this.hung(signal);
    if (hung) return hung;
    this.objects.delete(`${ns}/${name}`);
    return Promise.resolve();
  }

  list(signal?: AbortSignal): Promise<CiliumEndpointObject[]> {
    this.check('list', '', '');
    const hung = this.hung(signal);
    if (hung) return hung;
    return Promise.resolve([...this.objects.values()].map((o) => structuredClone(o)));
  }
}
