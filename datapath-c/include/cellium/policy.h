/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Network policy as bpf_lxc enforces it: each endpoint's own LPM trie (cellium_policy_<epid>,
 * written by the policy cell) reached through cellium_policy, keyed by the endpoint's host-side
 * ifindex, and the verdict for a packet's peer identity, direction, protocol and port. Layouts
 * as Cilium's policy map (cells/policy/maps.ts declares the same; layout tests check the BTF).
 *
 * Keys are matched by longest prefix over identity (32 bits), direction (8), protocol (8) and
 * destination port (16, network order; the ICMP type for ICMP): prefix 40 is every protocol
 * and port of an identity and direction, 48 every port of a protocol, 48+n a block of ports.
 * Identity 0 stands for every identity. A packet's verdict takes the longest match for its
 * peer's identity and the longest for identity 0: a deny in either drops it (the agent removes
 * allows a deny of the same identity covers, so a longest match never hides a deny); else
 * either allows it; else it is dropped. An endpoint without a map has no policy programmed and
 * is not enforced. */
#ifndef CELLIUM_POLICY_H
#define CELLIUM_POLICY_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "cellium/maps.h"
#include "cellium/metrics.h"

struct policy_key {
	__u32 prefixlen;  /* bits of what follows that must match */
	__u32 sec_label;  /* the peer's identity; 0: every identity */
	__u8 egress;      /* 0 ingress (to the endpoint), 1 egress (from it) */
	__u8 protocol;    /* IPPROTO_*; 0 with prefix 40: every protocol */
	__be16 dport;     /* destination port; the type for ICMP and ICMPv6 */
};

#define POLICY_F_DENY 1            /* drop what this entry matches */
#define POLICY_F_WILDCARD_PROTO 2  /* every protocol (prefix 40) */
#define POLICY_F_WILDCARD_DPORT 4  /* every port (prefix 40 or 48) */

struct policy_entry {
	__be16 proxy_port; /* L7 redirection (unused: no proxy) */
	__u8 flags;        /* POLICY_F_* */
	__u8 auth_type;
	__u32 pad;
	__u64 packets;     /* packets this entry decided */
	__u64 bytes;
};

#define POLICY_PREFIX_FULL 64
#define POLICY_INGRESS 0
#define POLICY_EGRESS 1

/* Default sizes only: the agent creates the maps (--bpf-policy-map-max entries per endpoint). */
#define POLICY_MAP_SIZE 16384
#define POLICY_ENDPOINTS_MAX 65535

/* Sizes, not types: clang describes a struct only named inside an inner map's definition as a
 * forward declaration, which libbpf cannot size. */
struct policy_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(key_size, sizeof(struct policy_key));
	__uint(value_size, sizeof(struct policy_entry));
	__uint(max_entries, POLICY_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

/* cellium_policy: an endpoint's host-side ifindex -> its policy map. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, POLICY_ENDPOINTS_MAX);
	__array(values, struct policy_inner);
} cellium_policy SEC(".maps");

/* The policy map of the endpoint behind host-side interface `ifindex`, or NULL. */
static __always_inline void *policy_map_of(__u32 ifindex)
{
	return bpf_map_lookup_elem(&cellium_policy, &ifindex);
}

static __always_inline void policy_count(struct policy_entry *e, __u32 len)
{
	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, len);
}

/* Policy verdict match types (what decided a verdict; monitor policy verdicts carry it), Cilium's numbers. */
#define POLICY_MATCH_NONE 0
#define POLICY_MATCH_L3_ONLY 1  /* the peer's identity, every protocol */
#define POLICY_MATCH_L3_L4 2    /* the peer's identity, protocol and port */
#define POLICY_MATCH_L4_ONLY 3  /* every identity, protocol and port */
#define POLICY_MATCH_ALL 4      /* every identity, every protocol */
#define POLICY_MATCH_L3_PROTO 5 /* the peer's identity, every port of a protocol */
#define POLICY_MATCH_PROTO_ONLY 6 /* every identity, every port of a protocol */

/* The verdict of `pmap` for a packet of `len` bytes from/to `identity`: 0 (allowed),
 * REASON_POLICY_DENY (an explicit deny) or REASON_POLICY_DENIED (nothing allows it). `*match`
 * says which kind of entry decided (POLICY_MATCH_*; POLICY_MATCH_NONE when none did). */
static __always_inline int policy_verdict(void *pmap, __u32 identity, __u8 egress, __u8 proto,
					  __be16 dport, __u32 len, __u8 *match)
{
	struct policy_key key = {
		.prefixlen = POLICY_PREFIX_FULL,
		.sec_label = identity,
		.egress = egress,
		.protocol = proto,
		.dport = dport,
	};
	struct policy_entry *l3, *any, *e;
	int ret = 0;

	l3 = bpf_map_lookup_elem(pmap, &key);
	key.sec_label = 0;
	any = bpf_map_lookup_elem(pmap, &key);
	if (l3 && (l3->flags & POLICY_F_DENY)) {
		e = l3;
		ret = REASON_POLICY_DENY;
	} else if (any && (any->flags & POLICY_F_DENY)) {
		e = any;
		ret = REASON_POLICY_DENY;
	} else if (l3) {
		e = l3;
	} else if (any) {
		e = any;
	} else {
		*match = POLICY_MATCH_NONE;
		return REASON_POLICY_DENIED;
	}
	policy_count(e, len);
	if (e == l3)
		*match = (e->flags & POLICY_F_WILDCARD_PROTO)	 ? POLICY_MATCH_L3_ONLY
			 : (e->flags & POLICY_F_WILDCARD_DPORT) ? POLICY_MATCH_L3_PROTO
								 : POLICY_MATCH_L3_L4;
	else
		*match = (e->flags & POLICY_F_WILDCARD_PROTO)	 ? POLICY_MATCH_ALL
			 : (e->flags & POLICY_F_WILDCARD_DPORT) ? POLICY_MATCH_PROTO_ONLY
								 : POLICY_MATCH_L4_ONLY;
	return ret;
}

#endif
