// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_host: NodePort, LoadBalancer and ExternalIPs reached from outside the node (kube-proxy
 * replacement, as Cilium's bpf_host nodeport path). Attached with tc ingress to each device of
 * --devices; the agent fills cellium_lb_devices with each device's addresses.
 *
 * cil_from_netdev, for TCP and UDP over IPv4 and IPv6 (anything else passes untouched):
 *  - To a service frontend (the EXT scope: from outside, a service with externalTrafficPolicy=Local
 *    has only node-local backends there): a frontend without SVC_FLAG_ROUTABLE (a ClusterIP) is
 *    dropped, as is a client outside a service's loadBalancerSourceRanges. Otherwise a backend is
 *    chosen and the flow tracked as bpf_lxc does (lb_xlate.h; the OUT entry client -> backend
 *    carries CT_F_NODE_PORT and the device in `ifindex`) and the packet goes to the backend:
 *      an endpoint of this node: straight to its host-side veth (the client's address kept); its
 *      replies are reverse-translated by that endpoint's bpf_lxc and routed back by the stack;
 *      elsewhere: source-NATed to this device's address and a NAT port (nodeport.h), then
 *      forwarded along the FIB's route, so the backend's replies come back through this node.
 *  - A backend's reply to a source-NATed flow (to a node address and a NAT port, on whichever
 *    device faces the backend): back to the client, from the frontend it used, along the FIB.
 * Forwarded packets have their TTL (hop limit) decremented and skip the host stack.
 * Every packet counts once in cellium_metrics under INGRESS (FORWARDED, NOT_IP or its drop
 * reason); translations count as LB_TRANSLATED, reverse translations as LB_REVNAT under SERVICE.
 * For tests: cb[2] the local endpoint a packet was sent to, cb[3] the backend id, cb[4] the
 * service (rev_nat_index) of a translation or reverse translation (0: none). */
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
#include "cellium/fib.h"
#include "cellium/nodeport.h"
#include "cellium/prog.h"
#include "cellium/events.h"



/* The endpoint of this node a backend address is, if it has a veth to redirect to. */
static __always_inline struct endpoint_info *local_backend(const void *ip, __u32 len, __u8 family)
{
	struct endpoint_key key = { .family = family };
	struct endpoint_info *ep;

	__builtin_memcpy(key.ip, ip, len == 4 ? 4 : 16);
	ep = bpf_map_lookup_elem(&cellium_lxc, &key);
	if (!ep || !ep->ifindex || (ep->flags & ENDPOINT_F_HOST))
		return NULL;
	return ep;
}

/* A client's packet to a frontend: translated, then sent to the backend. A TC action, or a
 * negative drop reason. */
static __always_inline int nodeport4_lb(struct __sk_buff *skb, struct flow4 *f, struct lb4_key *key,
					const struct lb4_service *svc)
{
	struct bpf_fib_lookup fib;
	struct lb4_xlate x = {};
	struct ipv4_ct_tuple to;
	struct endpoint_info *ep;
	__be16 port;
	__be32 addr;
	int ret, rc;

	if (!(svc->flags & SVC_FLAG_ROUTABLE))
		return -REASON_IS_CLUSTER_IP;
	if (!lb4_src_range_ok(svc, f->t.saddr))
		return -REASON_NOT_IN_SRC_RANGE;
	ret = lb4_local(key, svc, &f->t, &f->p, CT_F_NODE_PORT, &x);
	if (ret)
		return -ret;
	ct4_note_ifindex(&x.to, skb->ifindex);
	cb_set(skb, CB_BACKEND_ID, x.backend_id);
	cb_set(skb, CB_REV_NAT, x.rev_nat_index);

	ep = local_backend(&x.to.daddr, 4, ENDPOINT_KEY_IPV4);
	if (ep) {
		if (nat4_rewrite(skb, &f->l4, &f->t, &x.to) < 0)
			return -REASON_NAT_WRITE_ERROR;
		account(REASON_LB_TRANSLATED, METRIC_SERVICE, skb->len);
		cb_set(skb, CB_DST_ENDPOINT, ep->lxc_id);
		return fwd_to_endpoint(skb, ep, 0);
	}

	addr = snat4_device_addr(skb->ifindex);
	if (!addr)
		return -REASON_NAT_NO_MAPPING;
	to = x.to;
	to.saddr = addr;
	rc = fib4_lookup(skb, &fib, &to);
	ret = fib_forwardable(skb, rc, 0);
	if (ret < 0)
		return ret;
	if (snat4_port(&x.to, addr, &port) < 0)
		return -REASON_NAT_NO_MAPPING;
	to.sport = port;
	if (nat4_rewrite(skb, &f->l4, &f->t, &to) < 0)
		return -REASON_NAT_WRITE_ERROR;
	account(REASON_LB_TRANSLATED, METRIC_SERVICE, skb->len);
	return fib_redirect(skb, &fib, rc);
}

/* A packet to no frontend: a backend's reply to a source-NATed flow goes back to the client,
 * from the frontend; anything else passes to the stack. */
static __always_inline int nodeport4_rev(struct __sk_buff *skb, struct flow4 *f)
{
	struct ipv4_nat_entry *nat = snat4_rev(&f->t);
	struct bpf_fib_lookup fib;
	struct lb4_xlate x = {};
	struct ipv4_ct_tuple to;
	struct ct_entry *e;
	int revnat = 0;
	int ret, rc;

	if (!nat)
		return TC_ACT_OK;
	to = f->t;
	to.daddr = nat->to_saddr;
	to.dport = nat->to_sport;
	e = ct4_reply(&to, &f->p, bpf_now_sec());
	if (e && e->rev_nat_index) {
		if (lb4_rev_nat(e, &to, &x) == 0) {
			to = x.to;
			revnat = 1;
		} else {
			account(REASON_LB_REVNAT_STALE, METRIC_SERVICE, skb->len);
		}
	}
	rc = fib4_lookup(skb, &fib, &to);
	ret = fib_forwardable(skb, rc, 0);
	if (ret < 0)
		return ret;
	if (nat4_rewrite(skb, &f->l4, &f->t, &to) < 0)
		return -REASON_NAT_WRITE_ERROR;
	if (revnat) {
		cb_set(skb, CB_REV_NAT, x.rev_nat_index);
		account(REASON_LB_REVNAT, METRIC_SERVICE, skb->len);
	}
	return fib_redirect(skb, &fib, rc);
}

static __always_inline int nodeport4(struct __sk_buff *skb)
{
	struct lb4_key key = {};
	struct lb4_service *svc;
	struct flow4 f = {};

	if (!flow4_of(skb, &f))
		return TC_ACT_OK;
	key.address = f.t.daddr;
	key.dport = f.t.dport;
	key.proto = f.t.nexthdr;
	svc = lb4_lookup_service(&key, 0);
	if (svc)
		return nodeport4_lb(skb, &f, &key, svc);
	return nodeport4_rev(skb, &f);
}

static __always_inline int nodeport6_lb(struct __sk_buff *skb, struct flow6 *f, struct lb6_key *key,
					const struct lb6_service *svc)
{
	struct bpf_fib_lookup fib;
	struct lb6_xlate x = {};
	struct ipv6_ct_tuple to;
	struct endpoint_info *ep;
	__u8 addr[16];
	__be16 port;
	int ret, rc;

	if (!(svc->flags & SVC_FLAG_ROUTABLE))
		return -REASON_IS_CLUSTER_IP;
	if (!lb6_src_range_ok(svc, f->t.saddr))
		return -REASON_NOT_IN_SRC_RANGE;
	ret = lb6_local(key, svc, &f->t, &f->p, CT_F_NODE_PORT, &x);
	if (ret)
		return -ret;
	ct6_note_ifindex(&x.to, skb->ifindex);
	cb_set(skb, CB_BACKEND_ID, x.backend_id);
	cb_set(skb, CB_REV_NAT, x.rev_nat_index);

	ep = local_backend(x.to.daddr, 16, ENDPOINT_KEY_IPV6);
	if (ep) {
		if (nat6_rewrite(skb, &f->l4, &f->t, &x.to) < 0)
			return -REASON_NAT_WRITE_ERROR;
		account(REASON_LB_TRANSLATED, METRIC_SERVICE, skb->len);
		cb_set(skb, CB_DST_ENDPOINT, ep->lxc_id);
		return fwd_to_endpoint(skb, ep, 1);
	}

	if (!snat6_device_addr(skb->ifindex, addr))
		return -REASON_NAT_NO_MAPPING;
	to = x.to;
	__builtin_memcpy(to.saddr, addr, 16);
	rc = fib6_lookup(skb, &fib, &to);
	ret = fib_forwardable(skb, rc, 1);
	if (ret < 0)
		return ret;
	if (snat6_port(&x.to, addr, &port) < 0)
		return -REASON_NAT_NO_MAPPING;
	to.sport = port;
	if (nat6_rewrite(skb, &f->l4, &f->t, &to) < 0)
		return -REASON_NAT_WRITE_ERROR;
	account(REASON_LB_TRANSLATED, METRIC_SERVICE, skb->len);
	return fib_redirect(skb, &fib, rc);
}

static __always_inline int nodeport6_rev(struct __sk_buff *skb, struct flow6 *f)
{
	struct ipv6_nat_entry *nat = snat6_rev(&f->t);
	struct bpf_fib_lookup fib;
	struct lb6_xlate x = {};
	struct ipv6_ct_tuple to;
	struct ct_entry *e;
	int revnat = 0;
	int ret, rc;

	if (!nat)
		return TC_ACT_OK;
	to = f->t;
	__builtin_memcpy(to.daddr, nat->to_saddr, 16);
	to.dport = nat->to_sport;
	e = ct6_reply(&to, &f->p, bpf_now_sec());
	if (e && e->rev_nat_index) {
		if (lb6_rev_nat(e, &to, &x) == 0) {
			to = x.to;
			revnat = 1;
		} else {
			account(REASON_LB_REVNAT_STALE, METRIC_SERVICE, skb->len);
		}
	}
	rc = fib6_lookup(skb, &fib, &to);
	ret = fib_forwardable(skb, rc, 1);
	if (ret < 0)
		return ret;
	if (nat6_rewrite(skb, &f->l4, &f->t, &to) < 0)
		return -REASON_NAT_WRITE_ERROR;
	if (revnat) {
		cb_set(skb, CB_REV_NAT, x.rev_nat_index);
		account(REASON_LB_REVNAT, METRIC_SERVICE, skb->len);
	}
	return fib_redirect(skb, &fib, rc);
}

static __always_inline int nodeport6(struct __sk_buff *skb)
{
	struct lb6_key key = {};
	struct lb6_service *svc;
	struct flow6 f = {};

	if (!flow6_of(skb, &f))
		return TC_ACT_OK;
	__builtin_memcpy(key.address, f.t.daddr, 16);
	key.dport = f.t.dport;
	key.proto = f.t.nexthdr;
	svc = lb6_lookup_service(&key, 0);
	if (svc)
		return nodeport6_lb(skb, &f, &key, svc);
	return nodeport6_rev(skb, &f);
}

/* tc ingress of a device facing outside the node (--devices). */
SEC("tc")
int cil_from_netdev(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	int ret;

	cb_set(skb, CB_DST_ENDPOINT, 0);
	cb_set(skb, CB_BACKEND_ID, 0);
	cb_set(skb, CB_REV_NAT, 0);
	if ((void *)(eth + 1) > end) {
		ret = -REASON_INVALID;
	} else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);

		if ((void *)(ip4 + 1) > end || ip4->ihl < 5)
			ret = -REASON_INVALID;
		else
			ret = nodeport4(skb);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		if (data + ETH_HLEN + sizeof(struct ipv6hdr) > end)
			ret = -REASON_INVALID;
		else
			ret = nodeport6(skb);
	} else {
		account(REASON_NOT_IP, METRIC_INGRESS, skb->len);
		return TC_ACT_OK;
	}
	if (ret < 0) {
		account(-ret, METRIC_INGRESS, skb->len);
		drop_notify_basic(skb, MONITOR_PROG_HOST, -ret, METRIC_INGRESS, __LINE__);
		return TC_ACT_SHOT;
	}
	account(REASON_FORWARDED, METRIC_INGRESS, skb->len);
	return ret;
}

char _license[] SEC("license") = "Dual BSD/GPL";
