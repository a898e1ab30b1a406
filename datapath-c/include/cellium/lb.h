/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service translation maps, as every program declares them. The loadbalancer cell creates, sizes
 * and pins them (cells/loadbalancer/maps.ts declares the same layouts; layout.test.ts checks them
 * against this object's BTF); programs reuse the agent's maps. Layouts as Cilium's lb4_/lb6_
 * maps (bit fields written out as whole bytes); addresses and ports in network order. */
#ifndef CELLIUM_LB_H
#define CELLIUM_LB_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* Which backends a lookup sees when a service has two sets (externalTrafficPolicy=Local):
 * EXT (traffic from outside the node: node-local backends only) or INT (from inside). */
#define LB_LOOKUP_SCOPE_EXT 0
#define LB_LOOKUP_SCOPE_INT 1

/* lb{4,6}_service.flags */
#define SVC_FLAG_EXTERNAL_IP (1 << 0)     /* ExternalIPs */
#define SVC_FLAG_NODEPORT (1 << 1)        /* NodePort */
#define SVC_FLAG_EXT_LOCAL_SCOPE (1 << 2) /* externalTrafficPolicy=Local */
#define SVC_FLAG_HOSTPORT (1 << 3)        /* HostPort */
#define SVC_FLAG_AFFINITY (1 << 4)        /* sessionAffinity=ClientIP */
#define SVC_FLAG_LOADBALANCER (1 << 5)    /* LoadBalancer */
#define SVC_FLAG_ROUTABLE (1 << 6)        /* reachable from outside the node */
#define SVC_FLAG_SOURCE_RANGE (1 << 7)    /* loadBalancerSourceRanges are checked */

/* lb{4,6}_service.flags2 */
#define SVC_FLAG_LOCALREDIRECT (1 << 0)   /* LocalRedirect */
#define SVC_FLAG_NAT_46X64 (1 << 1)
#define SVC_FLAG_L7LOADBALANCER (1 << 2)
#define SVC_FLAG_LOOPBACK (1 << 3)        /* a HostPort on a loopback address */
#define SVC_FLAG_INT_LOCAL_SCOPE (1 << 4) /* internalTrafficPolicy=Local */
#define SVC_FLAG_TWO_SCOPES (1 << 5)      /* EXT and INT entries with different backends */

/* The master entry's backend_id field: the session affinity timeout in seconds in the low 24
 * bits, the backend selection algorithm in the high 8 (0: random). */
#define LB_AFFINITY_TIMEOUT_MASK 0xffffff
#define LB_ALGORITHM_SHIFT 24
#define LB_ALGORITHM_RANDOM 1
#define LB_ALGORITHM_MAGLEV 2

/* lb{4,6}_backend.flags: the backend's state. New connections go only to the `count` active
 * backends of slots 1..count; the others (slots count+1..count+qcount) keep their connections. */
#define BE_STATE_ACTIVE 0
#define BE_STATE_TERMINATING 1
#define BE_STATE_QUARANTINED 2
#define BE_STATE_MAINTENANCE 3

/* cellium_lb4_services_v2: a frontend's master entry (backend_slot 0) and its backend slots. */
struct lb4_key {
	__be32 address;     /* the frontend IP */
	__be16 dport;       /* the frontend port */
	__u16 backend_slot; /* 0: the master entry; 1..count+qcount: the backends */
	__u8 proto;         /* IPPROTO_TCP, IPPROTO_UDP, or 0 for any */
	__u8 scope;         /* LB_LOOKUP_SCOPE_* */
	__u8 pad[2];
};

struct lb4_service {
	__u32 backend_id;    /* a slot: the backend; the master: affinity timeout and algorithm */
	__u16 count;         /* the master: active backends (slots 1..count) */
	__u16 rev_nat_index; /* the service id: its cellium_lb4_reverse_nat entry */
	__u8 flags;          /* SVC_FLAG_* */
	__u8 flags2;         /* SVC_FLAG_* of flags2 */
	__u16 qcount;        /* the master: backends that take no new connections */
};

/* cellium_lb4_backends_v3: backend id -> backend. */
struct lb_backend_key {
	__u32 backend_id;
};

struct lb4_backend {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 flags;          /* BE_STATE_* */
	__u8 cluster_id;
	__u8 pad[3];
};

/* cellium_lb4_reverse_nat: service id -> the frontend replies are rewritten to come from. */
struct lb_rev_nat_key {
	__u16 rev_nat_index;
};

struct lb4_reverse_nat {
	__be32 address;
	__be16 port;
} __attribute__((packed));

/* cellium_lb4_affinity (LRU): client (IP, or netns cookie for sockets) and service -> backend. */
union lb4_affinity_client_id {
	__u32 client_ip;
	__u64 client_cookie;
} __attribute__((packed));

struct lb4_affinity_key {
	union lb4_affinity_client_id client_id;
	__u16 rev_nat_id;
	__u8 netns_cookie;   /* 1: client_id is a netns cookie */
	__u8 pad1;
	__u32 pad2;
} __attribute__((packed));

struct lb_affinity_val {
	__u64 last_used;     /* seconds of CLOCK_MONOTONIC */
	__u32 backend_id;
	__u32 pad;
};

/* cellium_lb_affinity_match: (backend, service) pairs that affinity may still pick. */
struct lb_affinity_match {
	__u32 backend_id;
	__u16 rev_nat_id;
	__u16 pad;
};

/* The value of the maps that only hold keys (affinity match, source ranges). */
struct lb_present {
	__u8 pad;
};

/* cellium_lb4_source_range (LPM trie): the CIDRs allowed to reach a service that checks its
 * loadBalancerSourceRanges. prefixlen counts rev_nat_id and pad (32 bits) before the address. */
struct lb4_src_range_key {
	__u32 prefixlen;
	__u16 rev_nat_id;
	__u16 pad;
	__be32 addr;
};

/* cellium_lb4_maglev: service id -> the service's Maglev lookup table (an array of backend ids). */
struct lb_maglev_key {
	__u16 rev_nat_id;
};

/* cellium_lb4_reverse_sk (LRU): what a socket connected to, for recvmsg and getpeername. */
struct ipv4_revnat_tuple {
	__u64 cookie;        /* the socket's cookie */
	__be32 address;      /* the backend it was connected to */
	__be16 port;
	__u16 pad;
};

struct ipv4_revnat_entry {
	__be32 address;      /* the frontend it asked for */
	__be16 port;
	__u16 rev_nat_index;
};

/* IPv6: the same maps with 16-byte addresses. */
struct lb6_key {
	__u8 address[16];
	__be16 dport;
	__u16 backend_slot;
	__u8 proto;
	__u8 scope;
	__u8 pad[2];
};

struct lb6_service {
	__u32 backend_id;
	__u16 count;
	__u16 rev_nat_index;
	__u8 flags;
	__u8 flags2;
	__u16 qcount;
};

struct lb6_backend {
	__u8 address[16];
	__be16 port;
	__u8 proto;
	__u8 flags;
	__u8 cluster_id;
	__u8 pad[3];
};

struct lb6_reverse_nat {
	__u8 address[16];
	__be16 port;
} __attribute__((packed));

union lb6_affinity_client_id {
	__u8 client_ip[16];
	__u64 client_cookie;
} __attribute__((packed));

struct lb6_affinity_key {
	union lb6_affinity_client_id client_id;
	__u16 rev_nat_id;
	__u8 netns_cookie;
	__u8 pad1;
	__u32 pad2;
} __attribute__((packed));

struct lb6_src_range_key {
	__u32 prefixlen;
	__u16 rev_nat_id;
	__u16 pad;
	__u8 addr[16];
};

struct ipv6_revnat_tuple {
	__u64 cookie;
	__u8 address[16];
	__be16 port;
	__u16 pad;
};

struct ipv6_revnat_entry {
	__u8 address[16];
	__be16 port;
	__u16 rev_nat_index;
};

/* cellium_lb_config (an array of one): what programs cannot know otherwise. */
struct lb_config {
	__u32 maglev_lut_size; /* entries of every Maglev table (--bpf-lb-maglev-table-size) */
	__u32 pad;
};

/* The agent creates the maps (sized by --bpf-lb-*-map-max and --bpf-lb-maglev-table-size) and
 * the objects reuse them: these sizes only apply to an object's own copies, when it is loaded
 * without the agent's maps (tests), so they are kept small. */
#define LB_MAP_SIZE 1024
#define LB_SOCK_REV_NAT_MAP_SIZE 1024
#define LB_MAGLEV_LUT_SIZE 16381

/* cellium_lb_devices: the node's devices facing outside (--devices) and their addresses, which
 * the node translates a client's source to when a NodePort backend is on another node. */
struct lb_device_key {
	__u32 ifindex;
};

struct lb_device {
	__be32 ipv4;         /* 0: none */
	__u8 ipv6[16];       /* all zero: none */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb4_key);
	__type(value, struct lb4_service);
	__uint(max_entries, LB_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb4_services_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_backend_key);
	__type(value, struct lb4_backend);
	__uint(max_entries, LB_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb4_backends_v3 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_rev_nat_key);
	__type(value, struct lb4_reverse_nat);
	__uint(max_entries, LB_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb4_reverse_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb4_affinity_key);
	__type(value, struct lb_affinity_val);
	__uint(max_entries, LB_MAP_SIZE);
} cellium_lb4_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lb4_src_range_key);
	__type(value, struct lb_present);
	__uint(max_entries, LB_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb4_source_range SEC(".maps");

struct lb_maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, LB_MAGLEV_LUT_SIZE);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, struct lb_maglev_key);
	__uint(max_entries, LB_MAP_SIZE);
	__array(values, struct lb_maglev_inner);
} cellium_lb4_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv4_revnat_tuple);
	__type(value, struct ipv4_revnat_entry);
	__uint(max_entries, LB_SOCK_REV_NAT_MAP_SIZE);
} cellium_lb4_reverse_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb6_key);
	__type(value, struct lb6_service);
	__uint(max_entries, LB_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb6_services_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_backend_key);
	__type(value, struct lb6_backend);
	__uint(max_entries, LB_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb6_backends_v3 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_rev_nat_key);
	__type(value, struct lb6_reverse_nat);
	__uint(max_entries, LB_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb6_reverse_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb6_affinity_key);
	__type(value, struct lb_affinity_val);
	__uint(max_entries, LB_MAP_SIZE);
} cellium_lb6_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lb6_src_range_key);
	__type(value, struct lb_present);
	__uint(max_entries, LB_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb6_source_range SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, struct lb_maglev_key);
	__uint(max_entries, LB_MAP_SIZE);
	__array(values, struct lb_maglev_inner);
} cellium_lb6_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv6_revnat_tuple);
	__type(value, struct ipv6_revnat_entry);
	__uint(max_entries, LB_SOCK_REV_NAT_MAP_SIZE);
} cellium_lb6_reverse_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_affinity_match);
	__type(value, struct lb_present);
	__uint(max_entries, LB_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb_affinity_match SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_config);
	__uint(max_entries, 1);
} cellium_lb_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_device_key);
	__type(value, struct lb_device);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_lb_devices SEC(".maps");

#endif
