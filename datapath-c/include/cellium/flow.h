/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A TCP or UDP packet's flow as the load balancer and conntrack see it: its tuple as on the wire,
 * where its L4 header and checksum are, and what it brings to a CT entry. Frames start with
 * Ethernet (ETH_HLEN). IPv4 fragments (MF or an offset), IPv6 extension headers and other
 * protocols have no flow: callers forward them untranslated. bpf_lxc and bpf_host parse with it. */
#ifndef CELLIUM_FLOW_H
#define CELLIUM_FLOW_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cellium/ct.h"
#include "cellium/ct_track.h"
#include "cellium/nat_rw.h"

struct flow4 {
	struct ipv4_ct_tuple t; /* as on the wire; flags 0 */
	struct l4_hdr l4;
	struct ct_pkt p;
};

struct flow6 {
	struct ipv6_ct_tuple t;
	struct l4_hdr l4;
	struct ct_pkt p;
};

/* Reads the ports and TCP flags after the IP header at `off`; 0 when the L4 header is short. */
static __always_inline int flow_parse_l4(struct __sk_buff *skb, __u8 proto, __u32 off,
					 __be16 *sport, __be16 *dport, struct l4_hdr *l4,
					 struct ct_pkt *p)
{
	__be16 ports[2];
	__u8 flags = 0;

	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) < 0)
		return 0;
	if (proto == IPPROTO_TCP && bpf_skb_load_bytes(skb, off + 13, &flags, 1) < 0)
		return 0;
	*sport = ports[0];
	*dport = ports[1];
	l4_hdr_at(l4, proto, off);
	p->len = skb->len;
	p->tcp = proto == IPPROTO_TCP;
	p->flags = flags;
	return 1;
}

/* The flow of an IPv4 packet: 0 unless it is an unfragmented TCP or UDP packet. */
static __always_inline int flow4_of(struct __sk_buff *skb, struct flow4 *f)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip4 = data + ETH_HLEN;

	if ((void *)(ip4 + 1) > end)
		return 0;
	if (ip4->protocol != IPPROTO_TCP && ip4->protocol != IPPROTO_UDP)
		return 0;
	if (ip4->frag_off & bpf_htons(0x3fff))
		return 0;
	f->t.saddr = ip4->saddr;
	f->t.daddr = ip4->daddr;
	f->t.nexthdr = ip4->protocol;
	return flow_parse_l4(skb, ip4->protocol, ETH_HLEN + ip4->ihl * 4, &f->t.sport,
			     &f->t.dport, &f->l4, &f->p);
}

/* The flow of an IPv6 packet: 0 unless TCP or UDP follows the fixed header directly. */
static __always_inline int flow6_of(struct __sk_buff *skb, struct flow6 *f)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + ETH_HLEN;

	if ((void *)(ip6 + 1) > end)
		return 0;
	if (ip6->nexthdr != IPPROTO_TCP && ip6->nexthdr != IPPROTO_UDP)
		return 0;
	__builtin_memcpy(f->t.saddr, &ip6->saddr, 16);
	__builtin_memcpy(f->t.daddr, &ip6->daddr, 16);
	f->t.nexthdr = ip6->nexthdr;
	return flow_parse_l4(skb, ip6->nexthdr, ETH_HLEN + sizeof(*ip6), &f->t.sport,
			     &f->t.dport, &f->l4, &f->p);
}

#endif
