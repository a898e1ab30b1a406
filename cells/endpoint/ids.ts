import { ApiError } from '../../core/api/index.js';

/** How an endpoint is named in a path: Cilium's `[prefix:]id` forms. */
export type EndpointRef =
  | { readonly kind: 'cilium-local'; readonly id: number }
  | {
      readonly kind:
        | 'container-id'
        | 'container-name'
        | 'pod-name'
        | 'cni-attachment-id'
        | 'cep-name'
        | 'docker-endpoint'
        | 'cilium-global';
      readonly value: string;
    };

const PREFIXES = [
  'cilium-local',
  'cilium-global',
  'cni-attachment-id',
  'container-id',
  'container-name',
  'pod-name',
  'cep-name',
  'docker-endpoint',
] as const;

/** Parses an endpoint id from a path (`123`, `container-id:abc`, `pod-name:ns/name`, ...). */
export function parseEndpointRef(raw: string): EndpointRef {
  const colon = raw.indexOf(':');
  const prefix = colon < 0 ? 'cilium-local' : raw.slice(0, colon);
  const value = colon < 0 ? raw : raw.slice(colon + 1);
  if (!(PREFIXES as readonly string[]).includes(prefix)) {
    throw new ApiError(
      400,
      `unknown endpoint id prefix '${prefix}' (known: ${PREFIXES.join(', ')})`,
    );
  }
  if (value === '') throw new ApiError(400, `endpoint id '${raw}' has no value after the prefix`);
  if (prefix === 'cilium-local') {
    if (!/^\d+$/.test(value) || Number(value) > 65535) {
      throw new ApiError(400, `'${value}' is not a numeric endpoint id (0-65535)`);
    }
    return { kind: 'cilium-local', id: Number(value) };
  }
  // pod-name and cep-name accept ns/name and ns:name.
  const v = prefix === 'pod-name' || prefix === 'cep-name' ? value.replace(':', '/') : value;
  return { kind: prefix as Exclude<EndpointRef['kind'], 'cilium-local'>, value: v };
}
