// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_lxc: per endpoint, attached with tc to the host-side veth. Parses Ethernet, IPv4 and
 * IPv6, looks up source and destination in the ipcache and the destination in the endpoint
 * map, and counts packets and bytes by reason and direction. From the endpoint, it forwards
 * packets for another endpoint of this node straight to that endpoint's veth (MACs rewritten,
 * TTL decremented), answers ARP with the host-side MAC so pods need no bridge, and hands
 * everything else to the host stack.
 * For inspection (and BPF_PROG_TEST_RUN tests) it leaves the source identity in cb[0], the
 * destination identity in cb[1] and the destination endpoint id (0 if not local) in cb[2]. */
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_info);
	__uint(max_entries, LXC_MAP_SIZE);
} cellium_lxc SEC(".maps");

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
	return info ? info->sec_identity : IDENTITY_WORLD;
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
	return bpf_redirect(ep->ifindex, 0);
}

static __always_inline int classify(struct __sk_buff *skb, const __u8 *src, const __u8 *dst,
				    __u8 family, __u32 addr_bits, __u8 dir)
{
	struct endpoint_info *ep = local_endpoint(dst, family);

	skb->cb[0] = identity_of(src, family, addr_bits);
	skb->cb[1] = identity_of(dst, family, addr_bits);
	skb->cb[2] = ep ? ep->lxc_id : 0;
	account(REASON_FORWARDED, dir, skb->len);
	if (ep && dir == METRIC_EGRESS)
		return redirect_local(skb, ep, family);
	return TC_ACT_OK;
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
static __always_inline int arp_respond(struct __sk_buff *skb)
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

static __always_inline int handle(struct __sk_buff *skb, __u8 dir)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u8 src[16] = {}, dst[16] = {};

	skb->cb[0] = skb->cb[1] = skb->cb[2] = 0;
	if ((void *)(eth + 1) > end)
		goto invalid;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);

		if ((void *)(ip4 + 1) > end || ip4->ihl < 5)
			goto invalid;
		__builtin_memcpy(src, &ip4->saddr, 4);
		__builtin_memcpy(dst, &ip4->daddr, 4);
		return classify(skb, src, dst, ENDPOINT_KEY_IPV4, 32, dir);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			goto invalid;
		__builtin_memcpy(src, &ip6->saddr, 16);
		__builtin_memcpy(dst, &ip6->daddr, 16);
		return classify(skb, src, dst, ENDPOINT_KEY_IPV6, 128, dir);
	}
	account(REASON_NOT_IP, dir, skb->len);
	if (eth->h_proto == bpf_htons(ETH_P_ARP) && dir == METRIC_EGRESS)
		return arp_respond(skb);
	return TC_ACT_OK;

invalid:
	account(REASON_INVALID, dir, skb->len);
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
