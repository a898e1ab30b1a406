// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_xdp: the prefilter, attached with XDP to the device named by --prefilter-device. Drops
 * IPv4 and IPv6 packets whose source address falls in a deny CIDR of cellium_cidr_v4_dyn or
 * cellium_cidr_v6_dyn (LPM tries the prefilter cell fills from PATCH /v1/prefilter), before
 * the stack allocates an skb for them. Everything else passes. One 802.1Q/802.1ad tag is
 * looked through. Drops are counted in cellium_metrics (ingress, REASON_PREFILTER_DENIED) and,
 * only while a monitor listens (cellium_monitor_config.listeners), reported in cellium_events
 * (events.h) with the first bytes of the frame;
 * IP headers cut short (or an IPv4 header length under 20 bytes) are dropped and counted as
 * REASON_INVALID, as bpf_lxc does. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cellium/maps.h"
#include "cellium/metrics.h"
#include "cellium/events.h"

/* Default size only: the agent creates the maps (--prefilter-map-max) and the object reuses
 * them. */
#define PREFILTER_MAP_SIZE 65536

/* LPM keys as Cilium's prefilter lays them out: the prefix length, then the address. */
struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct lpm_val {
	__u8 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_v4_key);
	__type(value, struct lpm_val);
	__uint(max_entries, PREFILTER_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_cidr_v4_dyn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_v6_key);
	__type(value, struct lpm_val);
	__uint(max_entries, PREFILTER_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cellium_cidr_v6_dyn SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* Counts a dropped frame and, while a monitor listens, reports it with its first bytes. The
 * prefilter is the DDoS path: a flood it drops must not fill the ring (and the agent's CPU) with
 * events nobody reads; cellium_metrics counts every drop either way. */
static __noinline int drop(struct xdp_md *ctx, __u8 reason, __u32 bytes, __u16 line)
{
	struct drop_notify *ev;

	account(reason, METRIC_INGRESS, bytes);
	if (monitor_level() < 0)
		return XDP_DROP;
	ev = monitor_reserve(sizeof(*ev), MONITOR_DROP, reason, MONITOR_PROG_XDP);
	if (!ev)
		return XDP_DROP;
	ev->hdr.ifindex = ctx->ingress_ifindex;
	ev->hdr.len_orig = bytes;
	ev->dir = METRIC_INGRESS;
	ev->line = line;
	ev->hdr.len_cap = monitor_capture(ctx, 1, bytes, ev->data);
	submit_drop(ev);
	return XDP_DROP;
}

SEC("xdp")
int cil_xdp_entry(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 bytes = (__u32)(end - data);
	struct ethhdr *eth = data;
	void *l3;
	__be16 proto;

	if ((void *)(eth + 1) > end)
		return XDP_PASS; /* not even Ethernet: the stack decides */
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vlan = l3;

		if ((void *)(vlan + 1) > end)
			return XDP_PASS;
		proto = vlan->proto;
		l3 = vlan + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = l3;
		struct lpm_v4_key key = { .prefixlen = 32 };

		if ((void *)(ip4 + 1) > end || ip4->ihl < 5)
			return drop(ctx, REASON_INVALID, bytes, __LINE__);
		__builtin_memcpy(key.addr, &ip4->saddr, sizeof(key.addr));
		if (bpf_map_lookup_elem(&cellium_cidr_v4_dyn, &key))
			return drop(ctx, REASON_PREFILTER_DENIED, bytes, __LINE__);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		struct lpm_v6_key key = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > end)
			return drop(ctx, REASON_INVALID, bytes, __LINE__);
		__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
		if (bpf_map_lookup_elem(&cellium_cidr_v6_dyn, &key))
			return drop(ctx, REASON_PREFILTER_DENIED, bytes, __LINE__);
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
