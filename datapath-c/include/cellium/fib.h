/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Forwarding a packet from tc as a router would, without the host stack: the TTL (hop limit)
 * decremented, the Ethernet addresses of the next hop written, and the packet redirected to the
 * egress device. The next hop is an endpoint of this node (its lxc entry names the host-side veth
 * and both MACs) or whatever the kernel's FIB says (bpf_fib_lookup; the neighbour subsystem
 * resolves a next hop it has no entry for yet, bpf_redirect_neigh). Frames start with Ethernet.
 * Functions returning int return a TC action (TC_ACT_REDIRECT) or 0 (done), or a negative drop
 * reason (-REASON_*). */
#ifndef CELLIUM_FIB_H
#define CELLIUM_FIB_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cellium/ct_track.h"
#include "cellium/maps.h"
#include "cellium/nat_rw.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define IPV4_TTL_OFF (ETH_HLEN + offsetof(struct iphdr, ttl))
#define IPV6_HOPLIMIT_OFF (ETH_HLEN + offsetof(struct ipv6hdr, hop_limit))

/* Decrements the TTL (IPv4, header checksum updated) or hop limit (IPv6). 0, or
 * -REASON_TTL_EXCEEDED when the packet may not be forwarded any further. */
static __always_inline int fwd_dec_ttl(struct __sk_buff *skb, int v6)
{
	__u32 off = v6 ? IPV6_HOPLIMIT_OFF : IPV4_TTL_OFF;
	__u8 ttl;

	if (bpf_skb_load_bytes(skb, off, &ttl, 1) < 0)
		return -REASON_INVALID;
	if (ttl <= 1)
		return -REASON_TTL_EXCEEDED;
	/* The TTL is the high byte of its 16-bit word of the header (the protocol the low one). */
	if (!v6 && bpf_l3_csum_replace(skb, IPV4_CSUM_OFF, bpf_htons((__u16)ttl << 8),
				       bpf_htons((__u16)(ttl - 1) << 8), 2) < 0)
		return -REASON_NAT_WRITE_ERROR;
	ttl--;
	if (bpf_skb_store_bytes(skb, off, &ttl, 1, 0) < 0)
		return -REASON_NAT_WRITE_ERROR;
	return 0;
}

/* Writes the frame's destination and source MACs (6 bytes each, network order). */
static __always_inline int fwd_set_macs(struct __sk_buff *skb, const void *dst, const void *src)
{
	if (bpf_skb_store_bytes(skb, 0, dst, ETH_ALEN, 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, src, ETH_ALEN, 0) < 0)
		return -REASON_NAT_WRITE_ERROR;
	return 0;
}

/* Sends a packet to an endpoint of this node straight to its host-side veth: the pod's MAC as
 * the destination, the host side's as the source. The mark tells the endpoint's
 * cil_to_container that the packet is tracked and translated already. */
static __always_inline int fwd_to_endpoint(struct __sk_buff *skb, const struct endpoint_info *ep,
					   int v6)
{
	__u64 mac = ep->mac, node_mac = ep->node_mac;
	__u32 ifindex = ep->ifindex;
	int ret;

	ret = fwd_dec_ttl(skb, v6);
	if (ret < 0)
		return ret;
	ret = fwd_set_macs(skb, &mac, &node_mac);
	if (ret < 0)
		return ret;
	skb->mark = MARK_MAGIC_CT_DONE;
	return bpf_redirect(ifindex, 0);
}

/* The FIB's route for a packet `t` (addresses and ports as it will leave, network order) that
 * came in on this device, as the kernel would forward it: BPF_FIB_LKUP_RET_* (0: `fib` holds the
 * egress device and both MACs). Forwarding must be enabled on this device (net.ipv4.ip_forward,
 * net.ipv6.conf.*.forwarding), else BPF_FIB_LKUP_RET_FWD_DISABLED. tot_len stays 0, so the
 * kernel checks the skb itself against the egress MTU (GSO packets too). */
static __always_inline int fib4_lookup(struct __sk_buff *skb, struct bpf_fib_lookup *fib,
				       const struct ipv4_ct_tuple *t)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET;
	fib->ifindex = skb->ifindex;
	fib->l4_protocol = t->nexthdr;
	fib->sport = t->sport;
	fib->dport = t->dport;
	fib->ipv4_src = t->saddr;
	fib->ipv4_dst = t->daddr;
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

static __always_inline int fib6_lookup(struct __sk_buff *skb, struct bpf_fib_lookup *fib,
				       const struct ipv6_ct_tuple *t)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET6;
	fib->ifindex = skb->ifindex;
	fib->l4_protocol = t->nexthdr;
	fib->sport = t->sport;
	fib->dport = t->dport;
	__builtin_memcpy(fib->ipv6_src, t->saddr, 16);
	__builtin_memcpy(fib->ipv6_dst, t->daddr, 16);
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

/* Whether a FIB result lets the packet be forwarded; else its drop reason. */
static __always_inline int fib_verdict(int rc)
{
	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return 0;
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return -REASON_FRAG_NEEDED;
	return -REASON_NO_FIB; /* blackhole, unreachable, local, forwarding off, < 0 ... */
}

/* Takes the packet one hop along the route fib{4,6}_lookup found (`rc` its result): 0 with the
 * TTL (hop limit) decremented, or the drop reason. Callers check this before any translation
 * state is taken, then rewrite the packet and fib_redirect it. */
static __always_inline int fib_forwardable(struct __sk_buff *skb, int rc, int v6)
{
	int ret = fib_verdict(rc);

	return ret < 0 ? ret : fwd_dec_ttl(skb, v6);
}

/* Sends a packet along the route fib_forwardable accepted: with the MACs the lookup found, or,
 * when the next hop's MAC is not known yet, through the neighbour subsystem (which resolves it,
 * queueing the packet meanwhile). */
static __always_inline int fib_redirect(struct __sk_buff *skb, const struct bpf_fib_lookup *fib,
					int rc)
{
	int ret;

	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		struct bpf_redir_neigh nh = { .nh_family = fib->family };

		/* The lookup left the next hop (the gateway, or the destination) in ipv{4,6}_dst. */
		__builtin_memcpy(nh.ipv6_nh, fib->ipv6_dst, 16);
		return bpf_redirect_neigh(fib->ifindex, &nh, sizeof(nh), 0);
	}
	ret = fwd_set_macs(skb, fib->dmac, fib->smac);
	if (ret < 0)
		return ret;
	return bpf_redirect(fib->ifindex, 0);
}

#endif
