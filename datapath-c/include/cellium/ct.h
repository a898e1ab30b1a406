/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking and NAT maps, as every program declares them. The conntrack cell creates,
 * sizes, pins and garbage-collects them (cells/conntrack/maps.ts declares the same layouts;
 * layout.test.ts checks them against this object's BTF). Layouts as Cilium's ct and snat maps
 * (bit fields written out as whole fields); addresses and ports in network order.
 *
 * A key is one direction of a flow as it appears on the wire: saddr/sport the sender, daddr/dport
 * the receiver, and flags saying which kind of entry it is:
 *   TUPLE_F_OUT      the flow's original direction after any service translation
 *                    (client -> backend); a reply matches it with addresses and ports swapped.
 *   TUPLE_F_SERVICE  a client's flow to a service frontend before translation (client -> VIP),
 *                    holding the backend chosen for it, so every packet of the flow goes there.
 * Timestamps (lifetime, last reports) are seconds of CLOCK_MONOTONIC (bpf_ktime_get_ns). */
#ifndef CELLIUM_CT_H
#define CELLIUM_CT_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#define TUPLE_F_OUT 0
#define TUPLE_F_IN 1
#define TUPLE_F_RELATED 2
#define TUPLE_F_SERVICE 4

struct ipv4_ct_tuple {
	__be32 daddr;
	__be32 saddr;
	__be16 dport;
	__be16 sport;
	__u8 nexthdr;
	__u8 flags;          /* TUPLE_F_* */
} __attribute__((packed));

struct ipv6_ct_tuple {
	__u8 daddr[16];
	__u8 saddr[16];
	__be16 dport;
	__be16 sport;
	__u8 nexthdr;
	__u8 flags;
} __attribute__((packed));

/* ct_entry.flags */
#define CT_F_RX_CLOSING (1 << 0)
#define CT_F_TX_CLOSING (1 << 1)
#define CT_F_NAT46 (1 << 2)
#define CT_F_LB_LOOPBACK (1 << 3)
#define CT_F_SEEN_NON_SYN (1 << 4)
#define CT_F_NODE_PORT (1 << 5) /* a flow from outside the node to a NodePort/LoadBalancer */
#define CT_F_PROXY_REDIRECT (1 << 6)
#define CT_F_DSR (1 << 7)
#define CT_F_FROM_L7LB (1 << 8)
#define CT_F_FROM_TUNNEL (1 << 10)
#define CT_F_POLICY (1 << 11)    /* bpf_lxc's policy admitted the flow (policy_enforce.h) */

struct ct_entry {
	__u64 rx_packets;
	__u64 rx_bytes;      /* a TUPLE_F_SERVICE entry: the backend id (ct_backend_id) */
	__u64 tx_packets;
	__u64 tx_bytes;
	__u32 lifetime;      /* when the entry expires */
	__u16 flags;         /* CT_F_* */
	__u16 rev_nat_index; /* replies are rewritten to come from this service's frontend */
	__u16 ifindex;       /* a NodePort flow: the device it came in on */
	__u8 tx_flags_seen;  /* TCP flags seen from the sender / the receiver */
	__u8 rx_flags_seen;
	__u32 src_sec_id;
	__u32 last_tx_report;
	__u32 last_rx_report;
};

#define ct_backend_id rx_bytes

/* Lifetimes in seconds (Cilium's defaults). */
#define CT_LIFETIME_TCP 21600   /* an established TCP connection */
#define CT_LIFETIME_NONTCP 60   /* UDP and others, since the last packet */
#define CT_SYN_TIMEOUT 60       /* a TCP connection not yet established */
#define CT_CLOSE_TIMEOUT 10     /* a TCP connection after FIN or RST */

/* cellium_snat_v{4,6}_external: a flow's address translation by the node (NodePort to a backend
 * on another node): the TUPLE_F_OUT key of the translated flow as it leaves maps to the client's
 * address and port, and the reply's key (TUPLE_F_IN, addresses and ports as the reply carries
 * them) to where the reply goes. */
struct ipv4_nat_entry {
	__u64 created;       /* seconds of CLOCK_MONOTONIC */
	__u64 needs_ct;
	__u64 pad1;
	__u64 pad2;
	__be32 to_saddr;     /* TUPLE_F_OUT: the new source; TUPLE_F_IN: the original client */
	__be16 to_sport;
	__u16 pad3;
};

struct ipv6_nat_entry {
	__u64 created;
	__u64 needs_ct;
	__u64 pad1;
	__u64 pad2;
	__u8 to_saddr[16];
	__be16 to_sport;
	__u16 pad3;
};

/* The node's ports for source translation (NodePort to a remote backend). */
#define NAT_PORT_MIN 32768
#define NAT_PORT_MAX 60999

/* The agent creates the maps (--bpf-ct-global-tcp-max, --bpf-ct-global-any-max,
 * --bpf-nat-global-max) and the objects reuse them: these sizes only apply to an object's own
 * copies, when it is loaded without the agent's maps (tests), so they are kept small (LRU maps
 * are preallocated). */
#define CT_MAP_SIZE_TCP 4096
#define CT_MAP_SIZE_ANY 4096
#define NAT_MAP_SIZE 4096

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv4_ct_tuple);
	__type(value, struct ct_entry);
	__uint(max_entries, CT_MAP_SIZE_TCP);
} cellium_ct4_global SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv4_ct_tuple);
	__type(value, struct ct_entry);
	__uint(max_entries, CT_MAP_SIZE_ANY);
} cellium_ct_any4_global SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv6_ct_tuple);
	__type(value, struct ct_entry);
	__uint(max_entries, CT_MAP_SIZE_TCP);
} cellium_ct6_global SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv6_ct_tuple);
	__type(value, struct ct_entry);
	__uint(max_entries, CT_MAP_SIZE_ANY);
} cellium_ct_any6_global SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv4_ct_tuple);
	__type(value, struct ipv4_nat_entry);
	__uint(max_entries, NAT_MAP_SIZE);
} cellium_snat_v4_external SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv6_ct_tuple);
	__type(value, struct ipv6_nat_entry);
	__uint(max_entries, NAT_MAP_SIZE);
} cellium_snat_v6_external SEC(".maps");

#endif
