// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_lxc: per endpoint, attached with tc to the host-side veth. Parses Ethernet, IPv4 and
 * IPv6, looks up source and destination in the ipcache and the destination in the endpoint
 * map, and counts packets and bytes by reason and direction. From the endpoint, it forwards
 * packets for another endpoint of this node straight to that endpoint's veth (MACs rewritten,
 * TTL decremented), answers ARP with the host-side MAC so pods need no bridge, and hands
 * everything else to the host stack.
 * Services: a TCP or UDP packet from the endpoint to a service frontend is translated to a
 * backend (lb_xlate.h: the flow's conntrack entries decide, else affinity, Maglev or a random
 * active slot) before it is forwarded as above; a reply to a translated flow is rewritten to
 * come from the frontend, here when the backend is an endpoint of this node (its reply leaves
 * it), in cil_to_container when the reply comes from the host stack (a backend elsewhere).
 * For inspection (and BPF_PROG_TEST_RUN tests) it leaves the source identity in cb[0], the
 * destination identity in cb[1] and the destination endpoint id (0 if not local) in cb[2], all
 * of the packet as forwarded; cb[3] the backend id a packet was translated to, cb[4] the service
 * (rev_nat_index) of a translation or a reverse translation (0: none). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cellium/maps.h"
#include "cellium/metrics.h"
#include "cellium/lb.h"
#include "cellium/ct.h"
#include "cellium/ct_track.h"
#include "cellium/lb_select.h"
#include "cellium/lb_xlate.h"
#include "cellium/nat_rw.h"
#include "cellium/flow.h"
#include "cellium/prog.h"
#include "cellium/policy.h"
#include "cellium/policy_enforce.h"
#include "cellium/events.h"
#include "cellium/routing.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ipcache_key);
	__type(value, struct remote_endpoint_info);
	__uint(max_entries, IPCACHE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_ipcache SEC(".maps");

static __always_inline __u32 identity_of(const __u8 *ip, __u8 family, __u32 addr_bits)
{
	struct ipcache_key key = { .prefixlen = 32 + addr_bits, .family = family };
	struct remote_endpoint_info *info;

	__builtin_memcpy(key.ip, ip, 16);
	info = bpf_map_lookup_elem(&cellium_ipcache, &key);
	if (info)
		return info->sec_identity;
	/* Outside everything the ipcache knows: the world of the address's family. */
	return family == ENDPOINT_KEY_IPV4 ? IDENTITY_WORLD_IPV4 : IDENTITY_WORLD_IPV6;
}

static __always_inline struct endpoint_info *local_endpoint(const __u8 *ip, __u8 family)
{
	struct endpoint_key key = { .family = family };

	__builtin_memcpy(key.ip, ip, 16);
	return bpf_map_lookup_elem(&cellium_lxc, &key);
}

/* Sends a packet for a local endpoint straight to its veth, as a router would. */
static __always_inline int redirect_local(struct __sk_buff *skb, struct endpoint_info *ep, __u8 family)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (!ep->ifindex || (void *)(eth + 1) > end)
		return TC_ACT_OK;
	if (family == ENDPOINT_KEY_IPV4) {
		struct iphdr *ip4 = (void *)(eth + 1);
		__u16 old, new;
		__u32 sum;

		if ((void *)(ip4 + 1) > end || ip4->ttl <= 1)
			return TC_ACT_OK; /* the host stack sends the ICMP time exceeded */
		old = *(__u16 *)&ip4->ttl;
		ip4->ttl--;
		new = *(__u16 *)&ip4->ttl;
		/* RFC 1624 incremental checksum update. */
		sum = (~bpf_ntohs(ip4->check) & 0xffff) + (~bpf_ntohs(old) & 0xffff) + bpf_ntohs(new);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		ip4->check = bpf_htons(~sum & 0xffff);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->hop_limit <= 1)
			return TC_ACT_OK;
		ip6->hop_limit--;
	}
	__builtin_memcpy(eth->h_dest, &ep->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, &ep->node_mac, ETH_ALEN);
	/* Tracked, translated and both policies checked here: the endpoint's cil_to_container
	 * leaves it alone. */
	skb->mark = MARK_MAGIC_POLICY_DONE;
	return bpf_redirect(ep->ifindex, 0);
}

static __always_inline int classify(struct __sk_buff *skb, struct endpoint_info *ep,
				    const struct pol_ctx *c, __u8 family, __u8 dir)
{
	cb_set(skb, CB_SRC_IDENTITY, c->src_id);
	cb_set(skb, CB_DST_IDENTITY, c->dst_id);
	cb_set(skb, CB_DST_ENDPOINT, ep ? ep->lxc_id : 0);
	account(REASON_FORWARDED, dir, skb->len);
	if (ep && dir == METRIC_EGRESS)
		return redirect_local(skb, ep, family);
	return TC_ACT_OK;
}

/* finish(): the packet leaves the endpoint for an address that is no endpoint of this node;
 * handle() hands it to to_tunnel() (a call of its own: finish()'s stack and the tunnel key's
 * never add up within the verifier's 512 bytes). */
#define FINISH_REMOTE 0x100

/* A packet for no endpoint of this node. Tunnel mode: a packet for another node's pod (its ipcache entry names a tunnel endpoint that
 * is neither this node nor the destination itself) is encapsulated towards that node, the source
 * endpoint's identity in the VNI, and sent out of cellium_vxlan. Anything else goes to the host
 * stack, as in native mode. Counted once either way. */
static __noinline int to_tunnel(struct __sk_buff *skb, __u8 family, __u32 src_id)
{
	struct ipcache_key key = { .family = family };
	struct routing_config *cfg = routing_config();
	struct remote_endpoint_info *info;
	struct bpf_tunnel_key tk = {};
	__u32 dst4 = 0;

	if (!cfg || cfg->mode != ROUTING_TUNNEL || !cfg->tunnel_ifindex)
		goto stack;
	if (family == ENDPOINT_KEY_IPV4) {
		key.prefixlen = 32 + 32;
		if (bpf_skb_load_bytes(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, daddr),
				       key.ip, 4) < 0)
			goto stack;
		__builtin_memcpy(&dst4, key.ip, 4);
	} else {
		key.prefixlen = 32 + 128;
		if (bpf_skb_load_bytes(skb, ETH_HLEN + __builtin_offsetof(struct ipv6hdr, daddr),
				       key.ip, 16) < 0)
			goto stack;
	}
	info = bpf_map_lookup_elem(&cellium_ipcache, &key);
	/* No peer, this node, or a node's own address (reached over the underlay). */
	if (!info || !info->tunnel_endpoint || info->tunnel_endpoint == cfg->node_ipv4 ||
	    dst4 == info->tunnel_endpoint)
		goto stack;
	tk.remote_ipv4 = bpf_ntohl(info->tunnel_endpoint);
	tk.tunnel_id = src_id & 0xFFFFFF; /* the VNI: 24 bits */
	tk.tunnel_ttl = TUNNEL_TTL;
	if (bpf_skb_set_tunnel_key(skb, &tk, sizeof(tk), BPF_F_ZERO_CSUM_TX) < 0) {
		account(REASON_NAT_WRITE_ERROR, METRIC_EGRESS, skb->len);
		drop_notify_basic(skb, MONITOR_PROG_LXC, REASON_NAT_WRITE_ERROR, METRIC_EGRESS, __LINE__);
		return TC_ACT_SHOT;
	}
	account(REASON_TUNNELED, METRIC_EGRESS, skb->len);
	return bpf_redirect(cfg->tunnel_ifindex, 0);
stack:
	account(REASON_FORWARDED, METRIC_EGRESS, skb->len);
	return TC_ACT_OK;
}

/* Whether an IPv6 source may be used by an endpoint without being its address: the unspecified
 * address and link-local ones (neighbour discovery). */
static __always_inline int ipv6_source_exempt(const __u8 *src)
{
	__u32 first;

	__builtin_memcpy(&first, src, 4);
	if ((bpf_ntohl(first) & 0xffc00000) == 0xfe800000)
		return 1;
	for (int i = 0; i < 16; i++)
		if (src[i])
			return 0;
	return 1;
}

/* Reports a packet policy dropped: counted under its reason and the policy's direction, and
 * told to the agent with both identities and the caller's source line. */
static __noinline void policy_drop(struct __sk_buff *skb, const struct pol_ctx *c, int reason,
				   __u16 dst_endpoint, __u16 line)
{
	struct drop_info d = {
		.src_id = c->src_id,
		.dst_id = c->dst_id,
		.source = c->epid,
		.dst_endpoint = dst_endpoint,
		.line = line,
		.reason = reason,
		.dir = c->drop_dir,
		.prog = MONITOR_PROG_LXC,
	};

	account(reason, c->drop_dir, skb->len);
	drop_notify_skb(skb, &d);
}

/* What a trace or a verdict report says besides the packet. */
struct notify_info {
	__u32 src_id;
	__u32 dst_id;
	__u16 source;       /* the endpoint whose program saw the packet */
	__u16 dst_endpoint; /* the endpoint it is delivered to */
	__u8 point;         /* TRACE_* */
	__u8 reason;        /* TRACE_REASON_* */
	__u8 pad[2];
};

/* Reports a packet passing an observation point (only called while a monitor listens). */
static __noinline void trace_notify_skb(struct __sk_buff *skb, const struct notify_info *n)
{
	struct trace_notify *ev =
		monitor_reserve(sizeof(*ev), MONITOR_TRACE, n->point, MONITOR_PROG_LXC);

	if (!ev)
		return;
	ev->hdr.source = n->source;
	ev->hdr.src_identity = n->src_id;
	ev->hdr.dst_identity = n->dst_id;
	ev->dst_endpoint = n->dst_endpoint;
	ev->reason = n->reason;
	monitor_capture_skb(skb, &ev->hdr, ev->data);
	submit_trace(ev);
}

/* Reports the policy lookups of a new flow, each direction looked up (only while a monitor
 * listens). `source`: the endpoint whose program saw the packet. */
static __noinline void verdict_notify_skb(struct __sk_buff *skb, const struct pol_ctx *c,
					  __u16 source)
{
	struct policy_verdict_notify *ev;
	__u16 dport = 0;
	__u8 l4[4] = {};

	/* The port policy matched: the destination port, or the type for ICMP (0 for the rest). */
	if (bpf_skb_load_bytes(skb, c->l4off, l4, sizeof(l4)) == 0) {
		if (has_ports(c->proto))
			dport = ((__u16)l4[2] << 8) | l4[3];
		else if (c->proto == IPPROTO_ICMP || c->proto == IPPROTO_ICMPV6)
			dport = l4[0];
	}
	for (int i = 0; i < 2; i++) {
		__u8 dir = i == 0 ? METRIC_EGRESS : METRIC_INGRESS;

		if (!(c->checked & (i == 0 ? POL_CHECKED_EGRESS : POL_CHECKED_INGRESS)))
			continue;
		ev = monitor_reserve(sizeof(*ev), MONITOR_POLICY_VERDICT, 0, MONITOR_PROG_LXC);
		if (!ev)
			continue;
		ev->hdr.source = source;
		ev->hdr.src_identity = c->src_id;
		ev->hdr.dst_identity = c->dst_id;
		ev->dport = dport;
		ev->proto = c->proto;
		ev->dir = dir;
		ev->match_type = i == 0 ? c->match_eg : c->match_in;
		ev->reason = i == 0 ? c->ret_eg : c->ret_in;
		monitor_capture_skb(skb, &ev->hdr, ev->data);
		submit_verdict(ev);
	}
}

/* Whether a packet may open a flow: any UDP packet, a TCP SYN. */
static __always_inline int opens_flow(const struct ct_pkt *p)
{
	return !p->tcp || (p->flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* Rewrites a reply to a translated flow to come from the service frontend. 0, or a drop reason. */
static __always_inline int rev_nat4(struct __sk_buff *skb, const struct flow4 *f,
				    const struct ct_entry *e)
{
	struct lb4_xlate x = {};

	if (lb4_rev_nat(e, &f->t, &x) < 0) {
		account(REASON_LB_REVNAT_STALE, METRIC_SERVICE, skb->len);
		return 0;
	}
	if (nat4_rewrite(skb, &f->l4, &f->t, &x.to) < 0)
		return REASON_NAT_WRITE_ERROR;
	cb_set(skb, CB_REV_NAT, x.rev_nat_index);
	account(REASON_LB_REVNAT, METRIC_SERVICE, skb->len);
	return 0;
}

static __always_inline int rev_nat6(struct __sk_buff *skb, const struct flow6 *f,
				    const struct ct_entry *e)
{
	struct lb6_xlate x = {};

	if (lb6_rev_nat(e, &f->t, &x) < 0) {
		account(REASON_LB_REVNAT_STALE, METRIC_SERVICE, skb->len);
		return 0;
	}
	if (nat6_rewrite(skb, &f->l4, &f->t, &x.to) < 0)
		return REASON_NAT_WRITE_ERROR;
	cb_set(skb, CB_REV_NAT, x.rev_nat_index);
	account(REASON_LB_REVNAT, METRIC_SERVICE, skb->len);
	return 0;
}

/* From the endpoint: a packet to a service frontend is translated to a backend; a reply to a
 * translated flow gets the frontend as its source. 0 (forward the packet as it now is), or the
 * reason it is dropped. */
static __noinline int from_container4(struct __sk_buff *skb, __u8 *tracked, __u8 *reply)
{
	struct lb4_key key = {};
	struct lb4_xlate x = {};
	struct lb4_service *svc;
	struct flow4 f = {};
	struct ct_entry *e;
	__u32 now;
	int ret;

	if (!flow4_of(skb, &f))
		return 0;
	key.address = f.t.daddr;
	key.dport = f.t.dport;
	key.proto = f.t.nexthdr;
	svc = lb4_lookup_service(&key, 1);
	if (svc) {
		ret = lb4_local(&key, svc, &f.t, &f.p, 0, &x);
		if (ret)
			return ret;
		if (nat4_rewrite(skb, &f.l4, &f.t, &x.to) < 0)
			return REASON_NAT_WRITE_ERROR;
		cb_set(skb, CB_BACKEND_ID, x.backend_id);
		cb_set(skb, CB_REV_NAT, x.rev_nat_index);
		account(REASON_LB_TRANSLATED, METRIC_SERVICE, skb->len);
		*tracked = 1;
		return 0;
	}
	now = bpf_now_sec();
	e = ct4_reply(&f.t, &f.p, now);
	if (e && (e->flags & CT_F_POLICY))
		*reply = 1;
	if (e)
		return e->rev_nat_index ? rev_nat4(skb, &f, e) : 0;
	if (opens_flow(&f.p))
		ct4_forget_service_flow(&f.t, now);
	return 0;
}

static __noinline int from_container6(struct __sk_buff *skb, __u8 *tracked, __u8 *reply)
{
	struct lb6_key key = {};
	struct lb6_xlate x = {};
	struct lb6_service *svc;
	struct flow6 f = {};
	struct ct_entry *e;
	__u32 now;
	int ret;

	if (!flow6_of(skb, &f))
		return 0;
	__builtin_memcpy(key.address, f.t.daddr, 16);
	key.dport = f.t.dport;
	key.proto = f.t.nexthdr;
	svc = lb6_lookup_service(&key, 1);
	if (svc) {
		ret = lb6_local(&key, svc, &f.t, &f.p, 0, &x);
		if (ret)
			return ret;
		if (nat6_rewrite(skb, &f.l4, &f.t, &x.to) < 0)
			return REASON_NAT_WRITE_ERROR;
		cb_set(skb, CB_BACKEND_ID, x.backend_id);
		cb_set(skb, CB_REV_NAT, x.rev_nat_index);
		account(REASON_LB_TRANSLATED, METRIC_SERVICE, skb->len);
		*tracked = 1;
		return 0;
	}
	now = bpf_now_sec();
	e = ct6_reply(&f.t, &f.p, now);
	if (e && (e->flags & CT_F_POLICY))
		*reply = 1;
	if (e)
		return e->rev_nat_index ? rev_nat6(skb, &f, e) : 0;
	if (opens_flow(&f.p))
		ct6_forget_service_flow(&f.t, now);
	return 0;
}

/* To the endpoint: a reply to a translated flow that comes from the host stack (the backend is
 * not an endpoint of this node) gets the frontend as its source. Packets another endpoint's
 * cil_from_container already handled and redirected here carry MARK_MAGIC_POLICY_DONE, packets
 * bpf_host sent to a local backend MARK_MAGIC_CT_DONE. A reply to a flow policy admitted sets
 * *reply: it passes without a policy lookup (its addresses may have just been translated). */
static __noinline int to_container4(struct __sk_buff *skb, __u8 *reply)
{
	struct flow4 f = {};
	struct ct_entry *e;

	if (skb->mark == MARK_MAGIC_CT_DONE || skb->mark == MARK_MAGIC_POLICY_DONE) {
		skb->mark = 0;
		return 0;
	}
	if (!flow4_of(skb, &f))
		return 0;
	e = ct4_reply(&f.t, &f.p, bpf_now_sec());
	if (e && (e->flags & CT_F_POLICY))
		*reply = 1;
	return e && e->rev_nat_index ? rev_nat4(skb, &f, e) : 0;
}

static __noinline int to_container6(struct __sk_buff *skb, __u8 *reply)
{
	struct flow6 f = {};
	struct ct_entry *e;

	if (skb->mark == MARK_MAGIC_CT_DONE || skb->mark == MARK_MAGIC_POLICY_DONE) {
		skb->mark = 0;
		return 0;
	}
	if (!flow6_of(skb, &f))
		return 0;
	e = ct6_reply(&f.t, &f.p, bpf_now_sec());
	if (e && (e->flags & CT_F_POLICY))
		*reply = 1;
	return e && e->rev_nat_index ? rev_nat6(skb, &f, e) : 0;
}

/* ARP, declared here: <linux/if_arp.h> drags in libc headers a BPF build cannot use. */
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2

struct arphdr {
	__be16 ar_hrd;
	__be16 ar_pro;
	__u8 ar_hln;
	__u8 ar_pln;
	__be16 ar_op;
};

struct arp_eth_ipv4 {
	__u8 sha[ETH_ALEN];
	__be32 spa;
	__u8 tha[ETH_ALEN];
	__be32 tpa;
} __attribute__((packed));

/* Answers an endpoint's ARP request with the host-side MAC: every address the endpoint asks
 * for (its gateway, other endpoints) is reached through the host side. */
static __noinline int arp_respond(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct arphdr *arp = (void *)(eth + 1);
	struct arp_eth_ipv4 *body = (void *)(arp + 1);
	struct endpoint_info *self;
	__u8 sender[16] = {};
	__be32 target;

	if ((void *)(body + 1) > end || arp->ar_op != bpf_htons(ARPOP_REQUEST) ||
	    arp->ar_pro != bpf_htons(ETH_P_IP) || arp->ar_hln != ETH_ALEN || arp->ar_pln != 4)
		return TC_ACT_OK;
	if (body->spa == body->tpa)
		return TC_ACT_OK; /* gratuitous or duplicate address detection */
	__builtin_memcpy(sender, &body->spa, 4);
	self = local_endpoint(sender, ENDPOINT_KEY_IPV4);
	if (!self)
		return TC_ACT_OK;
	target = body->tpa;
	arp->ar_op = bpf_htons(ARPOP_REPLY);
	__builtin_memcpy(body->tha, body->sha, ETH_ALEN);
	body->tpa = body->spa;
	__builtin_memcpy(body->sha, &self->node_mac, ETH_ALEN);
	body->spa = target;
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, &self->node_mac, ETH_ALEN);
	return bpf_redirect(skb->ifindex, 0);
}

/* The policy context of a packet: whose maps apply (by the host-side interfaces), and the
 * identities of both ends. */
static __always_inline void policy_ctx(struct __sk_buff *skb, struct pol_ctx *c,
				       struct endpoint_info *ep, const __u8 *src, const __u8 *dst,
				       __u8 family, __u32 addr_bits, __u8 dir)
{
	struct endpoint_info *self;

	c->src_id = identity_of(src, family, addr_bits);
	c->dst_id = identity_of(dst, family, addr_bits);
	if (dir == METRIC_EGRESS) {
		c->src_pol = policy_map_of(skb->ifindex);
		c->dst_pol = ep && ep->ifindex ? policy_map_of(ep->ifindex) : NULL;
		/* An endpoint whose policy is managed but has no map (not written yet, or lost):
		 * closed, never open. */
		if (!c->src_pol) {
			self = local_endpoint(src, family);
			if (self && (self->flags & ENDPOINT_F_POLICY) && self->ifindex == skb->ifindex)
				c->closed = METRIC_EGRESS;
		}
		if (ep && !c->dst_pol && (ep->flags & ENDPOINT_F_POLICY))
			c->closed = METRIC_INGRESS;
	} else {
		c->dst_pol = policy_map_of(skb->ifindex);
		if (ep && !c->dst_pol && (ep->flags & ENDPOINT_F_POLICY) && ep->ifindex == skb->ifindex)
			c->closed = METRIC_INGRESS;
	}
}

/* From an endpoint with a policy map: the source must be one of the endpoint's addresses (its
 * entry names this interface), else the packet is dropped before anything else looks at it. */
static __noinline int source_ok(struct __sk_buff *skb, __u8 family)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	struct iphdr *ip4 = data + ETH_HLEN;
	struct endpoint_info *self;
	__u8 src[16] = {};

	if (!policy_map_of(skb->ifindex))
		return 1;
	if (family == ENDPOINT_KEY_IPV4) {
		if ((void *)(ip4 + 1) > end)
			return 0;
		__builtin_memcpy(src, &ip4->saddr, 4);
	} else {
		if ((void *)(ip6 + 1) > end)
			return 0;
		__builtin_memcpy(src, &ip6->saddr, 16);
		/* Neighbour discovery and link-local traffic: only towards the link. */
		if (ipv6_source_exempt(src))
			return ipv6_local_scope((const __u8 *)&ip6->daddr);
	}
	self = local_endpoint(src, family);
	/* 0: the endpoint was created without its interface's index (by name only). */
	return self && (self->ifindex == skb->ifindex || self->ifindex == 0);
}

#define PKT_IPV6 1       /* finish(): an IPv6 packet (else IPv4) */
#define PKT_TRACKED 2    /* the load balancer applied it to its flow's OUT entry */
#define PKT_REDIRECTED 4 /* another endpoint's program redirected it here, both policies done */
#define PKT_REPLY 8      /* a reply to a flow policy admitted (conntrack said so before any
			  * reverse translation) */

/* Traces a packet bpf_lxc passes on, at the monitor's aggregation level (only called while a
 * monitor listens): where it leaves (to an endpoint of this node, or to the stack), and with
 * MONITOR_AGG_NONE also where it came from. `args`: TRACE_ARGS(pkt, dir, level), as a BPF
 * function takes five arguments at most. */
#define TRACE_ARGS(pkt, dir, level) ((pkt) | ((__u32)(dir) << 8) | ((__u32)(level) << 16))

static __noinline void trace_forward(struct __sk_buff *skb, const struct pol_ctx *c,
				     const struct endpoint_info *ep, const __u8 *src, __u32 args)
{
	struct notify_info n = { .src_id = c->src_id, .dst_id = c->dst_id };
	__u32 pkt = args & 0xff;
	__u8 dir = (args >> 8) & 0xff;
	int level = (args >> 16) & 0xff;
	struct endpoint_info *self;
	__u8 flags = 0;

	n.reason = c->checked ? TRACE_REASON_NEW
		   : (pkt & PKT_REPLY) ? TRACE_REASON_REPLY
		   : (c->src_pol || c->dst_pol) ? TRACE_REASON_ESTABLISHED
					       : TRACE_REASON_UNKNOWN;
	if (level >= MONITOR_AGG_MEDIUM && n.reason != TRACE_REASON_NEW) {
		if (level >= MONITOR_AGG_MAXIMUM || c->proto != IPPROTO_TCP)
			return;
		/* TCP connection state changes only: SYN, FIN or RST. */
		if (bpf_skb_load_bytes(skb, c->l4off + 13, &flags, 1) < 0 ||
		    !(flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)))
			return;
	}
	if (dir == METRIC_EGRESS) {
		self = local_endpoint(src, c->family);
		n.source = self ? self->lxc_id : 0;
		if (level == MONITOR_AGG_NONE) {
			n.point = TRACE_FROM_LXC;
			trace_notify_skb(skb, &n);
		}
		n.point = ep && ep->ifindex ? TRACE_TO_LXC : TRACE_TO_STACK;
	} else {
		n.source = ep ? ep->lxc_id : 0;
		n.point = TRACE_TO_LXC;
	}
	n.dst_endpoint = ep ? ep->lxc_id : 0;
	trace_notify_skb(skb, &n);
}

/* Policy, then forwarding, for a packet the load balancer is done with. A function of its own,
 * so its stack and the load balancer's are never both in use (the verifier's 512 bytes). */
static __noinline int finish(struct __sk_buff *skb, __u8 dir, __u32 pkt)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 src[16] = {}, dst[16] = {};
	struct endpoint_info *ep, *self;
	struct pol_ctx c = {};
	__u8 family, proto;
	__u32 addr_bits, l4off;
	int ret, level = -1;

	if (pkt & PKT_IPV6) {
		struct ipv6hdr *ip6 = data + ETH_HLEN;

		if ((void *)(ip6 + 1) > end)
			goto invalid;
		__builtin_memcpy(src, &ip6->saddr, 16);
		__builtin_memcpy(dst, &ip6->daddr, 16);
		proto = ip6->nexthdr;
		l4off = ETH_HLEN + sizeof(*ip6);
		family = ENDPOINT_KEY_IPV6;
		addr_bits = 128;
	} else {
		struct iphdr *ip4 = data + ETH_HLEN;

		if ((void *)(ip4 + 1) > end)
			goto invalid;
		__builtin_memcpy(src, &ip4->saddr, 4);
		__builtin_memcpy(dst, &ip4->daddr, 4);
		proto = ip4->protocol;
		l4off = ETH_HLEN + ip4->ihl * 4;
		family = ENDPOINT_KEY_IPV4;
		addr_bits = 32;
	}
	ep = local_endpoint(dst, family);
	policy_ctx(skb, &c, ep, src, dst, family, addr_bits, dir);
	/* Delivered by bpf_overlay: the sender's identity came in the VXLAN header (handle() left
	 * it in cb[0]; a stack slot of its own would not fit). */
	if (skb->cb[CB_SRC_IDENTITY])
		c.src_id = skb->cb[CB_SRC_IDENTITY];
	c.tracked = !!(pkt & PKT_TRACKED);
	if (pkt & (PKT_REDIRECTED | PKT_REPLY)) {
		c.src_pol = NULL;
		c.dst_pol = NULL;
	} else if (c.closed) {
		c.drop_dir = c.closed;
		ret = REASON_POLICY_DENIED;
		goto dropped;
	}
	ret = family == ENDPOINT_KEY_IPV4 ? policy4(skb, &c) : policy6(skb, &c);
	c.family = family;
	c.proto = proto;
	c.l4off = l4off;
	level = monitor_level();
	if (level >= 0 && c.checked) {
		self = local_endpoint(dir == METRIC_EGRESS ? src : dst, family);
		verdict_notify_skb(skb, &c, self ? self->lxc_id : 0);
	}
	if (ret) {
		/* A malformed packet policy could not judge: counted in the program's direction. */
		if (!c.drop_dir)
			c.drop_dir = dir;
dropped:
		self = local_endpoint(dir == METRIC_EGRESS ? src : dst, family);
		if (c.drop_dir == METRIC_INGRESS && dir == METRIC_EGRESS)
			self = ep;
		c.family = family;
		c.proto = proto;
		c.l4off = l4off;
		c.epid = self ? self->lxc_id : 0;
		policy_drop(skb, &c, ret, ep ? ep->lxc_id : 0, __LINE__);
		return TC_ACT_SHOT;
	}
	/* A packet another endpoint's program redirected here was traced there. */
	if (level >= 0 && !(pkt & PKT_REDIRECTED))
		trace_forward(skb, &c, ep, src, TRACE_ARGS(pkt, dir, level));
	if (dir == METRIC_EGRESS && !ep) {
		cb_set(skb, CB_SRC_IDENTITY, c.src_id);
		cb_set(skb, CB_DST_IDENTITY, c.dst_id);
		cb_set(skb, CB_DST_ENDPOINT, 0);
		return FINISH_REMOTE;
	}
	return classify(skb, ep, &c, family, dir);

invalid:
	account(REASON_INVALID, dir, skb->len);
	drop_notify_basic(skb, MONITOR_PROG_LXC, REASON_INVALID, dir, __LINE__);
	return TC_ACT_SHOT;
}

static __always_inline int handle(struct __sk_buff *skb, __u8 dir)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 pkt = dir == METRIC_INGRESS && skb->mark == MARK_MAGIC_POLICY_DONE ? PKT_REDIRECTED : 0;
	__u32 vni_id = dir == METRIC_INGRESS ? identity_of_mark(skb->mark) : 0;
	__u8 tracked = 0, reply = 0;
	int ret;

	cb_set(skb, CB_SRC_IDENTITY, 0);
	cb_set(skb, CB_DST_IDENTITY, 0);
	cb_set(skb, CB_DST_ENDPOINT, 0);
	cb_set(skb, CB_BACKEND_ID, 0);
	cb_set(skb, CB_REV_NAT, 0);
	if (vni_id) {
		skb->mark = 0;
		cb_set(skb, CB_SRC_IDENTITY, vni_id);
	}
	if ((void *)(eth + 1) > end)
		goto invalid;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);

		if ((void *)(ip4 + 1) > end || ip4->ihl < 5)
			goto invalid;
		if (dir == METRIC_EGRESS) {
			if (!source_ok(skb, ENDPOINT_KEY_IPV4)) {
				ret = REASON_INVALID_SOURCE;
				goto drop;
			}
		}
		ret = dir == METRIC_EGRESS ? from_container4(skb, &tracked, &reply) : to_container4(skb, &reply);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			goto invalid;
		if (dir == METRIC_EGRESS) {
			if (!source_ok(skb, ENDPOINT_KEY_IPV6)) {
				ret = REASON_INVALID_SOURCE;
				goto drop;
			}
		}
		ret = dir == METRIC_EGRESS ? from_container6(skb, &tracked, &reply) : to_container6(skb, &reply);
		pkt |= PKT_IPV6;
	} else {
		if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
			account(REASON_NOT_IP, dir, skb->len);
			return dir == METRIC_EGRESS ? arp_respond(skb) : TC_ACT_OK;
		}
		/* Anything else (VLAN tags, other protocols) from an enforced endpoint could carry
		 * IP past policy and source checks: dropped, as Cilium's DROP_UNKNOWN_L3. */
		if (dir == METRIC_EGRESS && policy_map_of(skb->ifindex)) {
			ret = REASON_UNKNOWN_L3;
			goto drop;
		}
		account(REASON_NOT_IP, dir, skb->len);
		return TC_ACT_OK;
	}
	if (ret)
		goto drop;
	/* The packet may have been rewritten: finish() reads it again. */
	ret = finish(skb, dir, pkt | (tracked ? PKT_TRACKED : 0) | (reply ? PKT_REPLY : 0));
	if (ret != FINISH_REMOTE)
		return ret;
	return to_tunnel(skb, pkt & PKT_IPV6 ? ENDPOINT_KEY_IPV6 : ENDPOINT_KEY_IPV4,
			 skb->cb[CB_SRC_IDENTITY]);

invalid:
	ret = REASON_INVALID;
drop:
	account(ret, dir, skb->len);
	drop_notify_basic(skb, MONITOR_PROG_LXC, ret, dir, __LINE__);
	return TC_ACT_SHOT;
}

/* tc ingress of the host-side veth: packets leaving the endpoint. */
SEC("tc")
int cil_from_container(struct __sk_buff *skb)
{
	return handle(skb, METRIC_EGRESS);
}

/* tc egress of the host-side veth: packets going to the endpoint. */
SEC("tc")
int cil_to_container(struct __sk_buff *skb)
{
	return handle(skb, METRIC_INGRESS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
