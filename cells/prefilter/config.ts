import { XDP_MODES } from '../../core/bpf/index.js';
import { flag, token, type ConfigOf } from '../../core/hive/index.js';
import { findUp } from '../../core/paths.js';

/** The prefilter cell's flags (Cilium's names for device and mode). */
export const prefilterFlags = {
  'prefilter-device': flag.string(
    '',
    'Device whose ingress the XDP prefilter guards (empty: prefilter off)',
    // IFNAMSIZ - 1 bytes, no slash, colon or whitespace (what the kernel accepts as a name).
    { pattern: '^$|^[^\\s/:]{1,15}$' },
  ),
  'prefilter-mode': flag.oneOf(
    XDP_MODES,
    'native',
    'XDP mode of the prefilter: native (in the driver) or generic (on skbs, any device)',
  ),
  'prefilter-map-max': flag.int(
    65536,
    'Maximum number of deny CIDRs per address family (cellium_cidr_v4_dyn, cellium_cidr_v6_dyn)',
    { min: 1, max: 16_777_216 },
  ),
  'bpf-xdp-object': flag.string(
    findUp('datapath-c/build/bpf_xdp.o') ?? '',
    'The compiled bpf_xdp object the prefilter attaches (built by npm run build)',
  ),
} as const;

/** The prefilter cell's configuration. */
export type PrefilterConfig = ConfigOf<typeof prefilterFlags>;

/** The prefilter cell's configuration. */
export const PrefilterConfig = token<PrefilterConfig>('prefilter/PrefilterConfig');
