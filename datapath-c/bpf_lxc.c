// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_lxc: per endpoint, attached with tc to the host-side veth. Parses Ethernet, IPv4 and
 * IPv6, looks up source and destination in the ipcache and the destination in the endpoint
 * map, counts packets and bytes by reason and direction, and passes the traffic on.
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

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct metrics_key);
	__type(value, struct metrics_value);
	__uint(max_entries, METRICS_MAP_SIZE);
} cellium_metrics SEC(".maps");

static __always_inline void account(__u8 reason, __u8 dir, __u32 bytes)
{
	struct metrics_key key = { .reason = reason, .dir = dir };
	struct metrics_value *v = bpf_map_lookup_elem(&cellium_metrics, &key);

	if (v) {
		v->count += 1;
		v->bytes += bytes;
	} else {
		struct metrics_value init = { .count = 1, .bytes = bytes };

		bpf_map_update_elem(&cellium_metrics, &key, &init, BPF_NOEXIST);
	}
}

static __always_inline __u32 identity_of(const __u8 *ip, __u8 family, __u32 addr_bits)
{
	struct ipcache_key key = { .prefixlen = 32 + addr_bits, .family = family };
	struct remote_endpoint_info *info;

	__builtin_memcpy(key.ip, ip, 16);
	info = bpf_map_lookup_elem(&cellium_ipcache, &key);
	return info ? info->sec_identity : IDENTITY_WORLD;
}

static __always_inline __u32 local_endpoint(const __u8 *ip, __u8 family)
{
	struct endpoint_key key = { .family = family };
	struct endpoint_info *ep;

	__builtin_memcpy(key.ip, ip, 16);
	ep = bpf_map_lookup_elem(&cellium_lxc, &key);
	return ep ? ep->lxc_id : 0;
}

static __always_inline int classify(struct __sk_buff *skb, const __u8 *src, const __u8 *dst,
				    __u8 family, __u32 addr_bits, __u8 dir)
{
	skb->cb[0] = identity_of(src, family, addr_bits);
	skb->cb[1] = identity_of(dst, family, addr_bits);
	skb->cb[2] = local_endpoint(dst, family);
	account(REASON_FORWARDED, dir, skb->len);
	return TC_ACT_OK;
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
