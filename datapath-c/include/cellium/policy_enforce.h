/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Policy enforcement in bpf_lxc: which flows are new, and the verdict of the endpoints' policy
 * maps (policy.h) on them. A flow's first packet is checked against the sender's egress policy
 * (when the sender is an endpoint of this node) and the receiver's ingress policy (when the
 * receiver is one); once both allow it, its TUPLE_F_OUT conntrack entry carries CT_F_POLICY, and
 * every later packet of the flow, and every reply, passes on that entry without a policy lookup.
 * An entry without CT_F_POLICY (a service or NodePort flow the load balancer tracked) makes the
 * flow new to policy. ICMP errors about a flow with such an entry pass as related; ICMPv6
 * neighbour discovery always passes. What has no conntrack (IPv4 fragments after the first, IPv6
 * extension headers, other ICMP types, other protocols) is checked packet by packet: ICMP by type
 * in the port field, the rest with port 0 (only rules without ports match them). */
#ifndef CELLIUM_POLICY_ENFORCE_H
#define CELLIUM_POLICY_ENFORCE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cellium/common.h"
#include "cellium/ct.h"
#include "cellium/ct_track.h"
#include "cellium/metrics.h"
#include "cellium/policy.h"

#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define ICMPV6_NDP_FIRST 133 /* router solicitation .. redirect */
#define ICMPV6_NDP_LAST 137

/* Whose policies a packet meets. */
struct pol_ctx {
	void *src_pol;  /* the sending endpoint's map (egress), or NULL */
	void *dst_pol;  /* the receiving endpoint's map (ingress), or NULL */
	__u32 src_id;
	__u32 dst_id;
	__u8 tracked;   /* the load balancer already applied this packet to its OUT entry */
	__u8 drop_dir;  /* after a drop: METRIC_EGRESS (the sender's policy) or METRIC_INGRESS */
	__u8 family;    /* ENDPOINT_KEY_IPV4 or ENDPOINT_KEY_IPV6 */
	__u8 proto;     /* the IP header's protocol */
	__u32 l4off;    /* where what follows the IP header starts */
	__u16 epid;     /* after a drop: the endpoint whose policy dropped it (0: unknown) */
	__u8 closed;    /* METRIC_*: an endpoint whose policy is managed has no map (drop) */
	__u8 checked;   /* POL_CHECKED_*: the policies a new flow was looked up in */
	__u8 match_eg;  /* POLICY_MATCH_* of the egress lookup, and its verdict (0: allowed) */
	__u8 ret_eg;
	__u8 match_in;  /* the same for the ingress lookup */
	__u8 ret_in;
};

#define POL_CHECKED_EGRESS 1
#define POL_CHECKED_INGRESS 2

/* The verdict on a flow new to policy: the sender's egress, then the receiver's ingress. */
static __always_inline int policy_new_flow(struct pol_ctx *c, __u8 proto, __be16 dport, __u32 len)
{
	int ret;

	if (c->src_pol) {
		ret = policy_verdict(c->src_pol, c->dst_id, POLICY_EGRESS, proto, dport, len,
				     &c->match_eg);
		c->checked |= POL_CHECKED_EGRESS;
		c->ret_eg = ret;
		if (ret) {
			c->drop_dir = METRIC_EGRESS;
			return ret;
		}
	}
	if (c->dst_pol) {
		ret = policy_verdict(c->dst_pol, c->src_id, POLICY_INGRESS, proto, dport, len,
				     &c->match_in);
		c->checked |= POL_CHECKED_INGRESS;
		c->ret_in = ret;
		if (ret) {
			c->drop_dir = METRIC_INGRESS;
			return ret;
		}
	}
	return 0;
}

/* Whether a TCP SYN starts a new connection on a closed entry's tuple. */
static __always_inline int policy_reopens(const struct ct_entry *e, const struct ct_pkt *p)
{
	return p->tcp && (p->flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN &&
	       (e->flags & CT_F_CLOSING);
}

/* Marks a flow's OUT entry admitted (creating it if needed) and applies the packet. */
static __always_inline struct ct_entry *policy_admit(void *map, const void *key, struct ct_entry *e,
						     const struct ct_pkt *p, int apply, __u32 now)
{
	if (!e) {
		e = ct_create(map, key, 0, 0);
		if (!e)
			return NULL;
		apply = 1;
	}
	if (apply)
		ct_apply(e, p, CT_TX, now);
	e->flags |= CT_F_POLICY;
	return e;
}

/* An IPv4 flow (`t` as on the wire; trackable: it has a conntrack tuple): 0 when it passes. */
static __always_inline int policy_ct4(struct pol_ctx *c, const struct ipv4_ct_tuple *t,
				      const struct ct_pkt *p, __be16 pdport, int trackable,
				      int opens)
{
	struct ipv4_ct_tuple key = *t, rkey = {};
	void *map = ct4_map(t->nexthdr);
	struct ct_entry *e = NULL, *r;
	__u32 now = bpf_now_sec();
	int ret;

	if (trackable) {
		key.flags = TUPLE_F_OUT;
		e = ct_lookup(map, &key, now);
		if (e && (e->flags & CT_F_POLICY) && !policy_reopens(e, p)) {
			if (!c->tracked)
				ct_apply(e, p, CT_TX, now);
			return 0;
		}
		ct4_reverse(&rkey, t, TUPLE_F_OUT);
		r = ct_lookup(map, &rkey, now);
		if (r && (r->flags & CT_F_POLICY))
			return 0; /* a reply */
	}
	ret = policy_new_flow(c, t->nexthdr, pdport, p->len);
	if (ret || !trackable || !opens)
		return ret;
	if (!policy_admit(map, &key, e, p, !c->tracked, now)) {
		c->drop_dir = c->src_pol ? METRIC_EGRESS : METRIC_INGRESS;
		return REASON_CT_CREATE_FAILED;
	}
	return 0;
}

static __always_inline int policy_ct6(struct pol_ctx *c, const struct ipv6_ct_tuple *t,
				      const struct ct_pkt *p, __be16 pdport, int trackable,
				      int opens)
{
	struct ipv6_ct_tuple key = *t, rkey = {};
	void *map = ct6_map(t->nexthdr);
	struct ct_entry *e = NULL, *r;
	__u32 now = bpf_now_sec();
	int ret;

	if (trackable) {
		key.flags = TUPLE_F_OUT;
		e = ct_lookup(map, &key, now);
		if (e && (e->flags & CT_F_POLICY) && !policy_reopens(e, p)) {
			if (!c->tracked)
				ct_apply(e, p, CT_TX, now);
			return 0;
		}
		ct6_reverse(&rkey, t, TUPLE_F_OUT);
		r = ct_lookup(map, &rkey, now);
		if (r && (r->flags & CT_F_POLICY))
			return 0;
	}
	ret = policy_new_flow(c, t->nexthdr, pdport, p->len);
	if (ret || !trackable || !opens)
		return ret;
	if (!policy_admit(map, &key, e, p, !c->tracked, now)) {
		c->drop_dir = c->src_pol ? METRIC_EGRESS : METRIC_INGRESS;
		return REASON_CT_CREATE_FAILED;
	}
	return 0;
}

/* Whether an admitted flow has the OUT entry `k` (either way round). */
static __always_inline int policy_flow_known4(struct ipv4_ct_tuple *k)
{
	struct ipv4_ct_tuple r = {};
	__u32 now = bpf_now_sec();
	struct ct_entry *e;

	k->flags = TUPLE_F_OUT;
	e = ct_lookup(ct4_map(k->nexthdr), k, now);
	if (e && (e->flags & CT_F_POLICY))
		return 1;
	ct4_reverse(&r, k, TUPLE_F_OUT);
	e = ct_lookup(ct4_map(k->nexthdr), &r, now);
	return e && (e->flags & CT_F_POLICY);
}

static __always_inline int policy_flow_known6(struct ipv6_ct_tuple *k)
{
	struct ipv6_ct_tuple r = {};
	__u32 now = bpf_now_sec();
	struct ct_entry *e;

	k->flags = TUPLE_F_OUT;
	e = ct_lookup(ct6_map(k->nexthdr), k, now);
	if (e && (e->flags & CT_F_POLICY))
		return 1;
	ct6_reverse(&r, k, TUPLE_F_OUT);
	e = ct_lookup(ct6_map(k->nexthdr), &r, now);
	return e && (e->flags & CT_F_POLICY);
}

static __always_inline int has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* Whether an ICMP error (its quoted packet at `off`) is about an admitted flow of the error's
 * own ends: the quoted packet was sent by the error's receiver (a router or peer answering it),
 * or to the error's sender (an endpoint answering what it received). */
static __always_inline int policy_related4(struct __sk_buff *skb, __u32 off, __be32 saddr,
					   __be32 daddr)
{
	struct ipv4_ct_tuple k = {};
	struct iphdr inner;
	__u8 l4[8];

	if (bpf_skb_load_bytes(skb, off, &inner, sizeof(inner)) < 0 || inner.ihl < 5)
		return 0;
	if (bpf_skb_load_bytes(skb, off + inner.ihl * 4, l4, sizeof(l4)) < 0)
		return 0;
	if (inner.saddr != daddr && inner.daddr != saddr)
		return 0;
	k.saddr = inner.saddr;
	k.daddr = inner.daddr;
	k.nexthdr = inner.protocol;
	if (has_ports(inner.protocol)) {
		__builtin_memcpy(&k.sport, &l4[0], 2);
		__builtin_memcpy(&k.dport, &l4[2], 2);
	} else if (inner.protocol == IPPROTO_ICMP && l4[0] == ICMP_ECHO) {
		__builtin_memcpy(&k.sport, &l4[4], 2);
	} else {
		return 0;
	}
	return policy_flow_known4(&k);
}

static __always_inline int ip6_eq(const __u8 *a, const __u8 *b)
{
	__u32 x[4], y[4];

	__builtin_memcpy(x, a, 16);
	__builtin_memcpy(y, b, 16);
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline int policy_related6(struct __sk_buff *skb, __u32 off, const __u8 *saddr,
					   const __u8 *daddr)
{
	struct ipv6_ct_tuple k = {};
	struct ipv6hdr inner;
	__u8 l4[8];

	if (bpf_skb_load_bytes(skb, off, &inner, sizeof(inner)) < 0)
		return 0;
	if (bpf_skb_load_bytes(skb, off + sizeof(inner), l4, sizeof(l4)) < 0)
		return 0;
	if (!ip6_eq((const __u8 *)&inner.saddr, daddr) && !ip6_eq((const __u8 *)&inner.daddr, saddr))
		return 0;
	__builtin_memcpy(k.saddr, &inner.saddr, 16);
	__builtin_memcpy(k.daddr, &inner.daddr, 16);
	k.nexthdr = inner.nexthdr;
	if (has_ports(inner.nexthdr)) {
		__builtin_memcpy(&k.sport, &l4[0], 2);
		__builtin_memcpy(&k.dport, &l4[2], 2);
	} else if (inner.nexthdr == IPPROTO_ICMPV6 && l4[0] == ICMPV6_ECHO_REQUEST) {
		__builtin_memcpy(&k.sport, &l4[4], 2);
	} else {
		return 0;
	}
	return policy_flow_known6(&k);
}

/* What policy reads after the IP header. */
struct pol_l4 {
	__be16 sport;     /* the echo id of an ICMP echo request */
	__be16 dport;     /* the echo id of an ICMP echo reply */
	__be16 pdport;    /* the port policy matches: the destination port, or the ICMP type */
	__u8 type;        /* the ICMP type (0xff: not ICMP) */
	__u8 trackable;   /* conntrack can follow it (ports, or an ICMP echo) */
	__u8 opens;       /* it may open a flow (not an echo reply: that only answers one) */
	__u8 pad;
};

/* Reads the ports (or ICMP type and echo id) at `off`; 0 when truncated. */
static __always_inline int policy_l4(struct __sk_buff *skb, __u32 off, __u8 proto, __u8 icmp,
				     struct pol_l4 *l, struct ct_pkt *p)
{
	__u8 hdr[14];

	l->type = 0xff;
	if (has_ports(proto)) {
		if (bpf_skb_load_bytes(skb, off, hdr, proto == IPPROTO_TCP ? 14 : 4) < 0)
			return 0;
		__builtin_memcpy(&l->sport, &hdr[0], 2);
		__builtin_memcpy(&l->dport, &hdr[2], 2);
		l->pdport = l->dport;
		p->tcp = proto == IPPROTO_TCP;
		p->flags = p->tcp ? hdr[13] : 0;
		l->trackable = 1;
		l->opens = 1;
		return 1;
	}
	if (proto != icmp)
		return 1; /* another protocol: port 0 */
	if (bpf_skb_load_bytes(skb, off, hdr, 8) < 0)
		return 0;
	l->type = hdr[0];
	l->pdport = bpf_htons(hdr[0]);
	if (hdr[0] == (icmp == IPPROTO_ICMP ? ICMP_ECHO : ICMPV6_ECHO_REQUEST)) {
		__builtin_memcpy(&l->sport, &hdr[4], 2);
		l->trackable = 1;
		l->opens = 1;
	} else if (hdr[0] == (icmp == IPPROTO_ICMP ? ICMP_ECHOREPLY : ICMPV6_ECHO_REPLY)) {
		__builtin_memcpy(&l->dport, &hdr[4], 2);
		l->trackable = 1;
	}
	return 1;
}

/* The policy of an IPv4 packet (the frame as it now is): 0 when it passes, else the reason to
 * drop it (c->drop_dir says whose policy). */
static __noinline int policy4(struct __sk_buff *skb, struct pol_ctx *c)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip4 = data + ETH_HLEN;
	struct ipv4_ct_tuple t = {};
	struct ct_pkt p = { .len = skb->len };
	struct pol_l4 l = {};
	__u32 off;

	if (!c->src_pol && !c->dst_pol)
		return 0;
	if ((void *)(ip4 + 1) > end)
		return REASON_INVALID;
	t.saddr = ip4->saddr;
	t.daddr = ip4->daddr;
	t.nexthdr = ip4->protocol;
	off = ETH_HLEN + ip4->ihl * 4;
	if (ip4->frag_off & bpf_htons(0x1fff)) /* a later fragment: no ports to read */
		return policy_new_flow(c, t.nexthdr, 0, p.len);
	if (!policy_l4(skb, off, t.nexthdr, IPPROTO_ICMP, &l, &p))
		return REASON_INVALID;
	t.sport = l.sport;
	t.dport = l.dport;
	if ((l.type == ICMP_DEST_UNREACH || l.type == ICMP_TIME_EXCEEDED ||
	     l.type == ICMP_PARAMETERPROB) &&
	    policy_related4(skb, off + 8, t.saddr, t.daddr))
		return 0;
	return policy_ct4(c, &t, &p, l.pdport, l.trackable, l.opens);
}

/* IPv6 extension headers policy looks through, at most this many. */
#define IPV6_MAX_EXT 6
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60

/* Skips the extension headers after the fixed IPv6 header: sets the protocol that follows and
 * where, and whether this is a fragment after the first (no ports in it). 0 when the headers are
 * truncated or more than IPV6_MAX_EXT. */
static __always_inline int ipv6_skip_ext(struct __sk_buff *skb, __u8 *nexthdr, __u32 *off,
					 __u8 *later_fragment)
{
	__u8 h[4];

#pragma unroll
	for (int i = 0; i < IPV6_MAX_EXT; i++) {
		switch (*nexthdr) {
		case NEXTHDR_HOP:
		case NEXTHDR_ROUTING:
		case NEXTHDR_DEST:
		case NEXTHDR_AUTH:
			if (bpf_skb_load_bytes(skb, *off, h, 2) < 0)
				return 0;
			*nexthdr = h[0];
			*off += *nexthdr == NEXTHDR_AUTH ? ((__u32)h[1] + 2) * 4 : ((__u32)h[1] + 1) * 8;
			break;
		case NEXTHDR_FRAGMENT:
			if (bpf_skb_load_bytes(skb, *off, h, 4) < 0)
				return 0;
			*nexthdr = h[0];
			if ((((__u16)h[2] << 8) | h[3]) & 0xfff8)
				*later_fragment = 1;
			*off += 8;
			break;
		default:
			return 1;
		}
	}
	return 0;
}

/* Link-local (fe80::/10) or multicast (ff00::/8): where neighbour discovery goes. */
static __always_inline int ipv6_local_scope(const __u8 *a)
{
	return a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

static __noinline int policy6(struct __sk_buff *skb, struct pol_ctx *c)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	struct ipv6_ct_tuple t = {};
	struct ct_pkt p = { .len = skb->len };
	struct pol_l4 l = {};
	__u32 off = ETH_HLEN + sizeof(*ip6);
	__u8 later = 0, hops;

	if (!c->src_pol && !c->dst_pol)
		return 0;
	if ((void *)(ip6 + 1) > end)
		return REASON_INVALID;
	__builtin_memcpy(t.saddr, &ip6->saddr, 16);
	__builtin_memcpy(t.daddr, &ip6->daddr, 16);
	t.nexthdr = ip6->nexthdr;
	hops = ip6->hop_limit;
	if (!ipv6_skip_ext(skb, &t.nexthdr, &off, &later))
		return REASON_INVALID;
	if (later) /* a later fragment: no ports to read */
		return policy_new_flow(c, t.nexthdr, 0, p.len);
	if (!policy_l4(skb, off, t.nexthdr, IPPROTO_ICMPV6, &l, &p))
		return REASON_INVALID;
	t.sport = l.sport;
	t.dport = l.dport;
	if (t.nexthdr == IPPROTO_ICMPV6) {
		/* Neighbour discovery as it is sent: on the link, hop limit 255. */
		if (l.type >= ICMPV6_NDP_FIRST && l.type <= ICMPV6_NDP_LAST && hops == 255 &&
		    ipv6_local_scope(t.daddr))
			return 0;
		if (l.type >= ICMPV6_DEST_UNREACH && l.type <= ICMPV6_PARAMPROB &&
		    policy_related6(skb, off + 8, t.saddr, t.daddr))
			return 0;
	}
	return policy_ct6(c, &t, &p, l.pdport, l.trackable, l.opens);
}

#endif
