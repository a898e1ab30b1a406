/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NodePort's source NAT (as Cilium's snat_v{4,6}_nat for a NodePort flow to a backend on another
 * node): the client's flow leaves the node from the address of the device it came in on
 * (cellium_lb_devices) and a port of NAT_PORT_MIN..NAT_PORT_MAX, so the backend's replies come
 * back through this node, which puts the client back as their destination.
 *
 * A translated flow has two entries in cellium_snat_v{4,6}_external (ct.h), both kept alive by
 * the flow's CT OUT entry client -> backend (the agent's NAT GC, cells/conntrack/gc.ts ctKeyOfNat,
 * deletes them once that entry is gone):
 *   TUPLE_F_OUT {saddr=client, daddr=backend, sport=client port, dport=backend port}
 *               -> {to_saddr=node address, to_sport=NAT port}
 *   TUPLE_F_IN  {saddr=backend, daddr=node address, sport=backend port, dport=NAT port}
 *               -> {to_saddr=client, to_sport=client port}
 * (nexthdr the protocol; `created` seconds of CLOCK_MONOTONIC; addresses and ports in network
 * order.) A NAT port is owned through its IN entry, written with BPF_NOEXIST: two flows to one
 * backend never share a port. Every packet of a flow reuses its mapping. */
#ifndef CELLIUM_NODEPORT_H
#define CELLIUM_NODEPORT_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cellium/common.h"
#include "cellium/ct.h"
#include "cellium/ct_track.h"
#include "cellium/lb.h"
#include "cellium/nat_rw.h"

/* How many random NAT ports a new flow tries before it is dropped (REASON_NAT_NO_MAPPING). */
#define NAT_PORT_RETRIES 16

/* A random NAT port, network order. */
static __always_inline __be16 snat_random_port(void)
{
	return bpf_htons(NAT_PORT_MIN + bpf_get_prandom_u32() % (NAT_PORT_MAX - NAT_PORT_MIN + 1));
}

/* The address NodePort flows leave from when they came in on `ifindex` (0: the device has none,
 * or is not one of --devices). */
static __always_inline __be32 snat4_device_addr(__u32 ifindex)
{
	struct lb_device_key key = { .ifindex = ifindex };
	struct lb_device *dev = bpf_map_lookup_elem(&cellium_lb_devices, &key);

	return dev ? dev->ipv4 : 0;
}

/* IPv6: copies the address to `addr`; 0 when there is none. */
static __always_inline int snat6_device_addr(__u32 ifindex, __u8 *addr)
{
	struct lb_device_key key = { .ifindex = ifindex };
	struct lb_device *dev = bpf_map_lookup_elem(&cellium_lb_devices, &key);
	__u32 a[4];

	if (!dev)
		return 0;
	__builtin_memcpy(a, dev->ipv6, 16);
	if (!(a[0] | a[1] | a[2] | a[3]))
		return 0;
	__builtin_memcpy(addr, a, 16);
	return 1;
}

/* The IN key of a flow's NAT mapping: the reply as the backend sends it. */
static __always_inline void snat4_in_key(struct ipv4_ct_tuple *in, const struct ipv4_ct_tuple *ct,
					 __be32 addr, __be16 port)
{
	in->saddr = ct->daddr;
	in->daddr = addr;
	in->sport = ct->dport;
	in->dport = port;
	in->nexthdr = ct->nexthdr;
	in->flags = TUPLE_F_IN;
}

static __always_inline void snat6_in_key(struct ipv6_ct_tuple *in, const struct ipv6_ct_tuple *ct,
					 const __u8 *addr, __be16 port)
{
	__builtin_memcpy(in->saddr, ct->daddr, 16);
	__builtin_memcpy(in->daddr, addr, 16);
	in->sport = ct->dport;
	in->dport = port;
	in->nexthdr = ct->nexthdr;
	in->flags = TUPLE_F_IN;
}

/* The NAT port of a flow `ct` (client -> backend, as CT tracks it) leaving from `addr`: its
 * mapping if it has one from that address, else a new one. 0 with *port set, or -1 when no port
 * is free (or the map refuses the entries). */
static __always_inline int snat4_port(const struct ipv4_ct_tuple *ct, __be32 addr, __be16 *port)
{
	struct ipv4_nat_entry nv = { .created = bpf_now_sec(), .to_saddr = ct->saddr,
				     .to_sport = ct->sport };
	struct ipv4_ct_tuple out = *ct, in = {};
	struct ipv4_nat_entry *o, *i;
	int n;

	out.flags = TUPLE_F_OUT;
	o = bpf_map_lookup_elem(&cellium_snat_v4_external, &out);
	if (o) {
		__be32 old_addr = o->to_saddr;
		__be16 old_port = o->to_sport;

		snat4_in_key(&in, ct, old_addr, old_port);
		i = bpf_map_lookup_elem(&cellium_snat_v4_external, &in);
		if (i && i->to_saddr == ct->saddr && i->to_sport == ct->sport) {
			if (old_addr == addr) {
				*port = old_port;
				return 0;
			}
			/* The device's address changed: the old port goes, a new mapping follows. */
			bpf_map_delete_elem(&cellium_snat_v4_external, &in);
		} else if (!i && old_addr == addr &&
			   !bpf_map_update_elem(&cellium_snat_v4_external, &in, &nv, BPF_NOEXIST)) {
			*port = old_port; /* the IN entry was evicted: taken back */
			return 0;
		}
	}
	for (n = 0; n < NAT_PORT_RETRIES; n++) {
		__be16 p = snat_random_port();

		snat4_in_key(&in, ct, addr, p);
		if (bpf_map_update_elem(&cellium_snat_v4_external, &in, &nv, BPF_NOEXIST))
			continue; /* another flow to this backend holds the port */
		nv.to_saddr = addr;
		nv.to_sport = p;
		if (bpf_map_update_elem(&cellium_snat_v4_external, &out, &nv, BPF_ANY)) {
			bpf_map_delete_elem(&cellium_snat_v4_external, &in);
			return -1;
		}
		*port = p;
		return 0;
	}
	return -1;
}

static __always_inline int snat6_port(const struct ipv6_ct_tuple *ct, const __u8 *addr,
				      __be16 *port)
{
	struct ipv6_nat_entry nv = { .created = bpf_now_sec(), .to_sport = ct->sport };
	struct ipv6_ct_tuple out = *ct, in = {};
	struct ipv6_nat_entry *o, *i;
	__u8 old_addr[16];
	int n;

	__builtin_memcpy(nv.to_saddr, ct->saddr, 16);
	out.flags = TUPLE_F_OUT;
	o = bpf_map_lookup_elem(&cellium_snat_v6_external, &out);
	if (o) {
		__be16 old_port = o->to_sport;
		int same_addr;

		__builtin_memcpy(old_addr, o->to_saddr, 16);
		same_addr = !nat6_addr_differs(old_addr, addr);
		snat6_in_key(&in, ct, old_addr, old_port);
		i = bpf_map_lookup_elem(&cellium_snat_v6_external, &in);
		if (i && !nat6_addr_differs(i->to_saddr, ct->saddr) && i->to_sport == ct->sport) {
			if (same_addr) {
				*port = old_port;
				return 0;
			}
			bpf_map_delete_elem(&cellium_snat_v6_external, &in);
		} else if (!i && same_addr &&
			   !bpf_map_update_elem(&cellium_snat_v6_external, &in, &nv, BPF_NOEXIST)) {
			*port = old_port;
			return 0;
		}
	}
	for (n = 0; n < NAT_PORT_RETRIES; n++) {
		__be16 p = snat_random_port();

		snat6_in_key(&in, ct, addr, p);
		if (bpf_map_update_elem(&cellium_snat_v6_external, &in, &nv, BPF_NOEXIST))
			continue;
		__builtin_memcpy(nv.to_saddr, addr, 16);
		nv.to_sport = p;
		if (bpf_map_update_elem(&cellium_snat_v6_external, &out, &nv, BPF_ANY)) {
			bpf_map_delete_elem(&cellium_snat_v6_external, &in);
			return -1;
		}
		*port = p;
		return 0;
	}
	return -1;
}

/* For a packet `t` (as on the wire) that may be a reply to a source-NATed flow: where it goes
 * (the client's address and port), from its TUPLE_F_IN entry; NULL when it is none. */
static __always_inline struct ipv4_nat_entry *snat4_rev(const struct ipv4_ct_tuple *t)
{
	struct ipv4_ct_tuple in = *t;

	in.flags = TUPLE_F_IN;
	return bpf_map_lookup_elem(&cellium_snat_v4_external, &in);
}

static __always_inline struct ipv6_nat_entry *snat6_rev(const struct ipv6_ct_tuple *t)
{
	struct ipv6_ct_tuple in = *t;

	in.flags = TUPLE_F_IN;
	return bpf_map_lookup_elem(&cellium_snat_v6_external, &in);
}

/* Notes on a NodePort flow's OUT entry the device it came in on (ct_entry.ifindex). */
static __always_inline void ct4_note_ifindex(const struct ipv4_ct_tuple *t, __u32 ifindex)
{
	struct ipv4_ct_tuple key = *t;
	struct ct_entry *e;

	key.flags = TUPLE_F_OUT;
	e = bpf_map_lookup_elem(ct4_map(t->nexthdr), &key);
	if (e && e->ifindex != (__u16)ifindex)
		e->ifindex = ifindex;
}

static __always_inline void ct6_note_ifindex(const struct ipv6_ct_tuple *t, __u32 ifindex)
{
	struct ipv6_ct_tuple key = *t;
	struct ct_entry *e;

	key.flags = TUPLE_F_OUT;
	e = bpf_map_lookup_elem(ct6_map(t->nexthdr), &key);
	if (e && e->ifindex != (__u16)ifindex)
		e->ifindex = ifindex;
}

#endif
