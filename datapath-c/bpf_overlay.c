// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_overlay: tc ingress of cellium_vxlan (tunnel mode), as Cilium's bpf_overlay. The VXLAN
 * device has taken the outer headers off; the tunnel key it leaves on the packet carries the
 * sending node (remote_ipv4) and the sending endpoint's security identity (the VNI, as Cilium
 * puts it there). An IPv4 or IPv6 packet for an endpoint of this node is delivered straight to
 * that endpoint's veth (MACs rewritten, TTL or hop limit decremented) with the identity in
 * skb->mark (MARK_MAGIC_IDENTITY, routing.h): the endpoint's cil_to_container takes the source
 * identity from there, not from the ipcache, so policy sees who sent it even when this node knows
 * nothing of the sender's address but its node's pod CIDR. Anything else (another destination, a
 * TTL at its end, ARP) goes to the host stack as a packet for this host.
 * For tests it leaves the identity in cb[0] and the endpoint id it delivered to in cb[2]. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cellium/maps.h"
#include "cellium/metrics.h"
#include "cellium/prog.h"
#include "cellium/events.h"
#include "cellium/routing.h"

/* Hands the packet to the host stack: the inner frame is addressed to the sending node's veth,
 * so it is made a packet for this host first. */
static __always_inline int to_stack(struct __sk_buff *skb, __u8 reason)
{
	bpf_skb_change_type(skb, PACKET_HOST);
	account(reason, METRIC_INGRESS, skb->len);
	return TC_ACT_OK;
}

/* Decrements the TTL (with the header checksum) or the hop limit; 0 when it has run out. */
static __always_inline int hop(struct __sk_buff *skb, __u8 family)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (family == ENDPOINT_KEY_IPV4) {
		struct iphdr *ip4 = data + ETH_HLEN;
		__u16 old, new;

		if ((void *)(ip4 + 1) > end || ip4->ttl <= 1)
			return 0;
		old = *(__u16 *)&ip4->ttl;
		ip4->ttl--;
		new = *(__u16 *)&ip4->ttl;
		bpf_l3_csum_replace(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, check), old, new,
				    sizeof(__u16));
		return 1;
	} else {
		struct ipv6hdr *ip6 = data + ETH_HLEN;

		if ((void *)(ip6 + 1) > end || ip6->hop_limit <= 1)
			return 0;
		ip6->hop_limit--;
		return 1;
	}
}

SEC("tc")
int cil_from_overlay(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct endpoint_key key = {};
	struct bpf_tunnel_key tk = {};
	struct endpoint_info *ep;
	__u32 identity;

	cb_set(skb, CB_SRC_IDENTITY, 0);
	cb_set(skb, CB_DST_IDENTITY, 0);
	cb_set(skb, CB_DST_ENDPOINT, 0);
	if ((void *)(eth + 1) > end)
		goto invalid;
	if (bpf_skb_get_tunnel_key(skb, &tk, sizeof(tk), 0) < 0) {
		account(REASON_NO_TUNNEL_KEY, METRIC_INGRESS, skb->len);
		drop_notify_basic(skb, MONITOR_PROG_OVERLAY, REASON_NO_TUNNEL_KEY, METRIC_INGRESS,
				  __LINE__);
		return TC_ACT_SHOT;
	}
	identity = tk.tunnel_id & 0xFFFFFF;
	cb_set(skb, CB_SRC_IDENTITY, identity);
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);

		if ((void *)(ip4 + 1) > end || ip4->ihl < 5)
			goto invalid;
		__builtin_memcpy(key.ip, &ip4->daddr, 4);
		key.family = ENDPOINT_KEY_IPV4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			goto invalid;
		__builtin_memcpy(key.ip, &ip6->daddr, 16);
		key.family = ENDPOINT_KEY_IPV6;
	} else {
		return to_stack(skb, REASON_NOT_IP);
	}
	ep = bpf_map_lookup_elem(&cellium_lxc, &key);
	if (!ep || !ep->ifindex || (ep->flags & ENDPOINT_F_HOST) || !hop(skb, key.family))
		return to_stack(skb, REASON_FORWARDED);
	/* hop() may have moved the data: read the frame again. */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		goto invalid;
	__builtin_memcpy(eth->h_dest, &ep->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, &ep->node_mac, ETH_ALEN);
	skb->mark = identity ? identity_mark(identity) : 0;
	cb_set(skb, CB_DST_ENDPOINT, ep->lxc_id);
	account(REASON_FORWARDED, METRIC_INGRESS, skb->len);
	return bpf_redirect(ep->ifindex, 0);

invalid:
	account(REASON_INVALID, METRIC_INGRESS, skb->len);
	drop_notify_basic(skb, MONITOR_PROG_OVERLAY, REASON_INVALID, METRIC_INGRESS, __LINE__);
	return TC_ACT_SHOT;
}

char _license[] SEC("license") = "Dual BSD/GPL";
