/* Key and value layouts of every map the agent owns. The TypeScript declarations in
 * cells/maps/defs.ts must match these; cells/maps/layout.kernel.test.ts checks them against
 * the BTF of the compiled objects. Sizes and offsets follow Cilium's maps. */
#ifndef CELLIUM_MAPS_H
#define CELLIUM_MAPS_H

#include <linux/types.h>

#define ENDPOINT_KEY_IPV4 1
#define ENDPOINT_KEY_IPV6 2

/* cellium_lxc: local endpoint IP -> endpoint. */
struct endpoint_key {
	__u8 ip[16];      /* IPv4 in the first 4 bytes, the rest zero */
	__u8 family;      /* ENDPOINT_KEY_IPV4 or ENDPOINT_KEY_IPV6 */
	__u8 key;
	__u16 cluster_id;
};

#define ENDPOINT_F_HOST 1
/* Its policy is managed: while its interface has no policy map (not written yet, or lost),
 * bpf_lxc drops its traffic instead of letting it through unenforced. */
#define ENDPOINT_F_POLICY 2

struct endpoint_info {
	__u32 ifindex;    /* host-side interface of the endpoint */
	__u16 unused;
	__u16 lxc_id;     /* endpoint id */
	__u32 flags;      /* ENDPOINT_F_* */
	__u32 pad;
	__u64 mac;        /* the pod's MAC, 6 bytes in network order */
	__u64 node_mac;   /* the host-side MAC */
	__u32 sec_id;     /* security identity */
	__u32 pad2[3];
};

/* cellium_ipcache (LPM trie): IP/CIDR -> security identity. prefixlen counts the 32 bits of
 * pad1, cluster_id and family before the address bits. */
struct ipcache_key {
	__u32 prefixlen;
	__u16 pad1;
	__u8 cluster_id;
	__u8 family;
	__u8 ip[16];
};

struct remote_endpoint_info {
	__u32 sec_identity;
	__u32 tunnel_endpoint;  /* IPv4, network order; 0 when local */
	__u16 node_id;
	__u8 key;
	__u8 flags;
};

/* cellium_metrics (per-CPU hash): packets and bytes by reason and direction. Every packet a
 * program sees counts once under INGRESS or EGRESS with what became of it (reasons below 128
 * passed on, from 128 dropped, as Cilium's); load balancer events count under SERVICE besides. */
#define METRIC_INGRESS 1   /* towards the endpoint */
#define METRIC_EGRESS 2    /* from the endpoint */
#define METRIC_SERVICE 3   /* load balancer events (not a packet's fate) */

#define REASON_FORWARDED 0 /* IPv4/IPv6 passed on */
#define REASON_NOT_IP 1    /* ARP and other non-IP frames, passed to the stack */
#define REASON_TUNNELED 2  /* bpf_lxc: encapsulated towards another node (cellium_vxlan) */
/* SERVICE events (5, 6 and 8 as Cilium's, as are the drops 141, 155 and 158 below). */
#define REASON_LB_NO_BACKEND_SLOT 5 /* a service's active slot named no backend */
#define REASON_LB_NO_BACKEND 6      /* a flow's backend is gone: a new one was picked */
#define REASON_LB_REVNAT_STALE 8    /* a reply's service has no reverse NAT entry: left alone */
#define REASON_LB_TRANSLATED 16     /* a packet to a service frontend sent to a backend */
#define REASON_LB_REVNAT 17         /* a reply rewritten to come from the service frontend */
#define REASON_INVALID 130 /* truncated or malformed frames, dropped */
#define REASON_INVALID_SOURCE 132   /* bpf_lxc: a source address not the endpoint's, dropped */
#define REASON_POLICY_DENIED 133    /* bpf_lxc: no policy entry allows it, dropped */
#define REASON_FRAG_NEEDED 136      /* bpf_host: larger than the egress device's MTU, dropped */
#define REASON_UNKNOWN_L3 139       /* bpf_lxc: neither ARP, IPv4 nor IPv6 from an enforced endpoint */
#define REASON_NAT_WRITE_ERROR 141  /* a translation (or tunnel key) the kernel refused to write, dropped */
#define REASON_NO_TUNNEL_KEY 147    /* bpf_overlay: a packet without tunnel metadata, dropped */
#define REASON_CT_CREATE_FAILED 155 /* a service flow that could not be tracked, dropped */
#define REASON_NO_SERVICE 158       /* to a service frontend without an active backend, dropped */
/* bpf_host (NodePort from outside the node); numbers as Cilium's. */
#define REASON_NAT_NO_MAPPING 167   /* no source NAT address or free NAT port, dropped */
#define REASON_NO_FIB 169           /* no route to forward along, dropped */
#define REASON_IS_CLUSTER_IP 174    /* to a frontend not reachable from outside, dropped */
#define REASON_NOT_IN_SRC_RANGE 177 /* source outside the loadBalancerSourceRanges, dropped */
#define REASON_POLICY_DENY 181      /* bpf_lxc: a deny policy entry matches it, dropped */
#define REASON_TTL_EXCEEDED 196     /* bpf_host: would be forwarded with a TTL of 0, dropped */
/* Cellium's own (Cilium's prefilter drops carry no reason of their own). */
#define REASON_PREFILTER_DENIED 240 /* source in a prefilter deny CIDR, dropped by bpf_xdp */

struct metrics_key {
	__u8 reason;
	__u8 dir;
	__u8 reserved[6];
};

struct metrics_value {
	__u64 count;
	__u64 bytes;
};

/* Security identities the datapath uses. */
#define IDENTITY_WORLD 2
#define IDENTITY_WORLD_IPV4 9   /* an IPv4 address the ipcache does not know */
#define IDENTITY_WORLD_IPV6 10  /* an IPv6 address the ipcache does not know */

/* Default sizes only: the agent creates the maps (sized by --bpf-lxc-map-max,
 * --bpf-ipcache-map-max, --bpf-metrics-map-max) and the objects reuse them. */
#define LXC_MAP_SIZE 65535
#define IPCACHE_MAP_SIZE 512000
#define METRICS_MAP_SIZE 1024

#endif
