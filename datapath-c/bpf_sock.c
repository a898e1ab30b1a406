// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bpf_sock: socket-level load balancing for the processes of a cgroup (kube-proxy replacement's
 * "socket LB", as Cilium's bpf_sock). Attached to the cgroup v2 sock_addr hooks:
 *
 *   connect4/6, sendmsg4/6      a TCP or UDP destination that is a service frontend is rewritten
 *                               to one of its backends before the socket ever uses it, so no
 *                               packet carries the frontend and nothing is NATed per packet;
 *                               what the socket asked for is remembered in
 *                               cellium_lb{4,6}_reverse_sk under (socket cookie, backend).
 *   recvmsg4/6, getpeername4/6  an address that is a backend this socket was sent to is shown
 *                               as the frontend it asked for.
 *
 * Backends: session affinity (SVC_FLAG_AFFINITY) is keyed by the netns cookie; otherwise
 * Maglev's table by a hash of the socket cookie, or a random active slot for TCP and a slot
 * chosen by that hash for UDP (so an unconnected UDP socket keeps talking to one backend). Only
 * active backends take new sockets. A service without one fails the call with ECONNREFUSED
 * (EPERM before Linux 5.18, which has no bpf_set_retval). IPv4 services are also reached through
 * v4-mapped addresses on AF_INET6 sockets. Anything else is left alone. */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/in.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cellium/common.h"
#include "cellium/lb.h"
#include "cellium/lb_select.h"

/* What a sock_addr program returns: 0 fails the call (EPERM unless bpf_set_retval said
 * otherwise), 1 lets it go on with the (possibly rewritten) address. */
#define SYS_REJECT 0
#define SYS_PROCEED 1

/* The running kernel's version, filled in by libbpf at load time from uname (no kernel BTF or
 * config needed). It sits in a frozen read-only map, so the verifier sees a constant and never
 * looks at a helper call an older kernel lacks. */
extern int LINUX_KERNEL_VERSION __kconfig;

/* What the forward translation did. */
enum xlate {
	XLATE_NONE,       /* not a service: the address is left alone */
	XLATE_DONE,       /* rewritten to a backend */
	XLATE_NO_BACKEND, /* a service without an active backend: the call fails */
};

static __always_inline int reject_no_backend(void)
{
	if (LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 18, 0))
		bpf_set_retval(-ECONNREFUSED);
	return SYS_REJECT;
}

/* The port (network order), read as the whole u32: older kernels refuse narrower loads of it. */
static __always_inline __be16 ctx_port(const struct bpf_sock_addr *ctx)
{
	volatile __u32 port = ctx->user_port;

	return (__be16)port;
}

static __always_inline void ctx_set_port(struct bpf_sock_addr *ctx, __be16 port)
{
	ctx->user_port = (__u32)port;
}

/* user_ip6 a word at a time: the barriers keep clang from merging the accesses into wider
 * ones older verifiers refuse. */
static __always_inline void ctx_get_ip6(const struct bpf_sock_addr *ctx, __u32 *addr)
{
	addr[0] = ctx->user_ip6[0];
	asm volatile("" ::: "memory");
	addr[1] = ctx->user_ip6[1];
	asm volatile("" ::: "memory");
	addr[2] = ctx->user_ip6[2];
	asm volatile("" ::: "memory");
	addr[3] = ctx->user_ip6[3];
}

static __always_inline void ctx_set_ip6(struct bpf_sock_addr *ctx, const __u32 *addr)
{
	ctx->user_ip6[0] = addr[0];
	asm volatile("" ::: "memory");
	ctx->user_ip6[1] = addr[1];
	asm volatile("" ::: "memory");
	ctx->user_ip6[2] = addr[2];
	asm volatile("" ::: "memory");
	ctx->user_ip6[3] = addr[3];
}

/* ::ffff:a.b.c.d, an IPv4 peer of an AF_INET6 socket. */
static __always_inline int is_v4_mapped(const __u32 *addr)
{
	return addr[0] == 0 && addr[1] == 0 && addr[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int ip6_eq(const void *a, const void *b)
{
	const __u32 *x = a, *y = b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* Only TCP and UDP sockets are balanced (ping and raw sockets keep their address). */
static __always_inline int sock_proto(const struct bpf_sock_addr *ctx, __u8 *proto)
{
	__u32 p = ctx->protocol;

	if (p != IPPROTO_TCP && p != IPPROTO_UDP)
		return 0;
	*proto = (__u8)p;
	return 1;
}

/* What picks a backend for a socket: stable for the socket's life (Maglev's table is indexed by
 * it, and UDP's slot), different between sockets, so connections spread over the backends. The
 * socket cookie is unique on the host for as long as the kernel runs. */
static __always_inline __u32 sock_hash(__u64 cookie)
{
	return hash_3words((__u32)cookie, (__u32)(cookie >> 32), 0, 0);
}

static __always_inline int svc_is_maglev(__u32 master_backend_id)
{
	return (master_backend_id >> LB_ALGORITHM_SHIFT) == LB_ALGORITHM_MAGLEV;
}

/* ---- IPv4 ---------------------------------------------------------------------------------- */

/* An active backend for a new socket to `svc`, or NULL (and its id). A UDP socket's slot comes
 * from its cookie, so every datagram of an unconnected socket goes to the same backend. */
static __always_inline struct lb4_backend *sock4_pick(__u64 cookie, struct lb4_key *key,
						      const struct lb4_service *svc, __u8 proto,
						      __u32 *backend_id)
{
	__u32 hash = sock_hash(cookie);
	struct lb4_backend *be;
	__u32 id;

	if (proto == IPPROTO_UDP && !svc_is_maglev(svc->backend_id))
		id = lb4_slot_backend_id(key, svc, hash);
	else
		id = lb4_select_backend_id(key, svc, hash);
	be = lb4_lookup_backend(id);
	/* A Maglev table a moment older than the backend's state: fall back to the slots, which
	 * only ever hold active backends. */
	if (be && be->flags != BE_STATE_ACTIVE) {
		id = lb4_slot_backend_id(key, svc, hash);
		be = lb4_lookup_backend(id);
	}
	*backend_id = id;
	return be;
}

/* Remembers what the socket asked for, under the backend it was given; written only when it
 * changes (a UDP socket passes here for every datagram). */
static __always_inline void sock4_remember(__u64 cookie, __be32 backend, __be16 backend_port,
					   __be32 frontend, __be16 frontend_port, __u16 rev_nat_index)
{
	struct ipv4_revnat_tuple key = {
		.cookie = cookie,
		.address = backend,
		.port = backend_port,
	};
	struct ipv4_revnat_entry val = {
		.address = frontend,
		.port = frontend_port,
		.rev_nat_index = rev_nat_index,
	};
	struct ipv4_revnat_entry *old;

	old = bpf_map_lookup_elem(&cellium_lb4_reverse_sk, &key);
	if (old && old->address == val.address && old->port == val.port &&
	    old->rev_nat_index == val.rev_nat_index)
		return;
	/* Best effort: an LRU map makes room; failing, getpeername shows the backend. */
	bpf_map_update_elem(&cellium_lb4_reverse_sk, &key, &val, BPF_ANY);
}

/* Translates an IPv4 destination (*addr, *port) of the socket of `ctx` (its cookie) in place. */
static __always_inline enum xlate sock4_xlate_fwd(void *ctx, __u64 cookie, __be32 *addr,
						  __be16 *port, __u8 proto)
{
	struct lb4_key key = { .address = *addr, .dport = *port, .proto = proto };
	struct lb4_affinity_key aff = {};
	struct lb4_backend *be = NULL;
	struct lb4_service *svc;
	__be16 to_port;
	__u32 id = 0;
	int affinity;

	svc = lb4_lookup_service(&key, 1);
	if (!svc)
		return XLATE_NONE;
	affinity = svc->flags & SVC_FLAG_AFFINITY;
	if (affinity) {
		aff.client_id.client_cookie = bpf_get_netns_cookie(ctx);
		aff.rev_nat_id = svc->rev_nat_index;
		aff.netns_cookie = 1;
		id = lb4_affinity_backend_id(svc, &aff);
		be = lb4_lookup_backend(id);
		/* Gone, or terminating since it was chosen: it takes no new sockets. */
		if (be && be->flags != BE_STATE_ACTIVE)
			be = NULL;
	}
	if (!be) {
		be = sock4_pick(cookie, &key, svc, proto, &id);
		if (!be)
			return XLATE_NO_BACKEND;
		if (affinity)
			lb4_update_affinity(&aff, id);
	}
	/* Port 0 in a backend: the service's own port. */
	to_port = be->port ? be->port : *port;

	sock4_remember(cookie, be->address, to_port, *addr, *port, svc->rev_nat_index);
	*addr = be->address;
	*port = to_port;
	return XLATE_DONE;
}

/* Shows a backend this socket was sent to as the frontend it asked for (*addr, *port in place);
 * 1 when it did. An entry whose frontend is gone or is now another service is stale: it is
 * dropped, not used. */
static __always_inline int sock4_xlate_rev(__u64 cookie, __be32 *addr, __be16 *port, __u8 proto)
{
	struct ipv4_revnat_tuple key = {
		.cookie = cookie,
		.address = *addr,
		.port = *port,
	};
	struct ipv4_revnat_entry *val;
	struct lb4_service *svc;
	struct lb4_key skey = {};

	val = bpf_map_lookup_elem(&cellium_lb4_reverse_sk, &key);
	if (!val)
		return 0;
	skey.address = val->address;
	skey.dport = val->port;
	skey.proto = proto;
	svc = lb4_lookup_service(&skey, 1);
	if (!svc || svc->rev_nat_index != val->rev_nat_index) {
		bpf_map_delete_elem(&cellium_lb4_reverse_sk, &key);
		return 0;
	}
	*addr = val->address;
	*port = val->port;
	return 1;
}

static __always_inline int sock4_fwd(struct bpf_sock_addr *ctx)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = ctx_port(ctx);
	__u8 proto;

	if (!sock_proto(ctx, &proto))
		return SYS_PROCEED;
	switch (sock4_xlate_fwd(ctx, bpf_get_socket_cookie(ctx), &addr, &port, proto)) {
	case XLATE_DONE:
		ctx->user_ip4 = addr;
		ctx_set_port(ctx, port);
		return SYS_PROCEED;
	case XLATE_NO_BACKEND:
		return reject_no_backend();
	default:
		return SYS_PROCEED;
	}
}

static __always_inline int sock4_rev(struct bpf_sock_addr *ctx)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = ctx_port(ctx);
	__u8 proto;

	if (!sock_proto(ctx, &proto))
		return SYS_PROCEED;
	if (sock4_xlate_rev(bpf_get_socket_cookie(ctx), &addr, &port, proto)) {
		ctx->user_ip4 = addr;
		ctx_set_port(ctx, port);
	}
	return SYS_PROCEED;
}

SEC("cgroup/connect4")
int cil_sock4_connect(struct bpf_sock_addr *ctx)
{
	return sock4_fwd(ctx);
}

SEC("cgroup/sendmsg4")
int cil_sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock4_fwd(ctx);
}

SEC("cgroup/recvmsg4")
int cil_sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock4_rev(ctx);
}

SEC("cgroup/getpeername4")
int cil_sock4_getpeername(struct bpf_sock_addr *ctx)
{
	return sock4_rev(ctx);
}

/* ---- IPv6 ---------------------------------------------------------------------------------- */

static __always_inline struct lb6_backend *sock6_pick(__u64 cookie, struct lb6_key *key,
						      const struct lb6_service *svc, __u8 proto,
						      __u32 *backend_id)
{
	__u32 hash = sock_hash(cookie);
	struct lb6_backend *be;
	__u32 id;

	if (proto == IPPROTO_UDP && !svc_is_maglev(svc->backend_id))
		id = lb6_slot_backend_id(key, svc, hash);
	else
		id = lb6_select_backend_id(key, svc, hash);
	be = lb6_lookup_backend(id);
	if (be && be->flags != BE_STATE_ACTIVE) {
		id = lb6_slot_backend_id(key, svc, hash);
		be = lb6_lookup_backend(id);
	}
	*backend_id = id;
	return be;
}

static __always_inline void sock6_remember(__u64 cookie, const __u32 *backend, __be16 backend_port,
					   const __u32 *frontend, __be16 frontend_port,
					   __u16 rev_nat_index)
{
	struct ipv6_revnat_tuple key = {};
	struct ipv6_revnat_entry val = {};
	struct ipv6_revnat_entry *old;

	key.cookie = cookie;
	__builtin_memcpy(key.address, backend, 16);
	key.port = backend_port;
	__builtin_memcpy(val.address, frontend, 16);
	val.port = frontend_port;
	val.rev_nat_index = rev_nat_index;

	old = bpf_map_lookup_elem(&cellium_lb6_reverse_sk, &key);
	if (old && ip6_eq(old->address, val.address) && old->port == val.port &&
	    old->rev_nat_index == val.rev_nat_index)
		return;
	bpf_map_update_elem(&cellium_lb6_reverse_sk, &key, &val, BPF_ANY);
}

/* Translates an IPv6 destination (addr[4], *port) of the socket of `ctx` in place. */
static __always_inline enum xlate sock6_xlate_fwd(void *ctx, __u64 cookie, __u32 *addr,
						  __be16 *port, __u8 proto)
{
	struct lb6_affinity_key aff = {};
	struct lb6_backend *be = NULL;
	struct lb6_service *svc;
	struct lb6_key key = {};
	__be16 to_port;
	__u32 to[4];
	__u32 id = 0;
	int affinity;

	__builtin_memcpy(key.address, addr, 16);
	key.dport = *port;
	key.proto = proto;
	svc = lb6_lookup_service(&key, 1);
	if (!svc)
		return XLATE_NONE;
	affinity = svc->flags & SVC_FLAG_AFFINITY;
	if (affinity) {
		aff.client_id.client_cookie = bpf_get_netns_cookie(ctx);
		aff.rev_nat_id = svc->rev_nat_index;
		aff.netns_cookie = 1;
		id = lb6_affinity_backend_id(svc, &aff);
		be = lb6_lookup_backend(id);
		if (be && be->flags != BE_STATE_ACTIVE)
			be = NULL;
	}
	if (!be) {
		be = sock6_pick(cookie, &key, svc, proto, &id);
		if (!be)
			return XLATE_NO_BACKEND;
		if (affinity)
			lb6_update_affinity(&aff, id);
	}
	to_port = be->port ? be->port : *port;
	__builtin_memcpy(to, be->address, 16);
	sock6_remember(cookie, to, to_port, addr, *port, svc->rev_nat_index);
	__builtin_memcpy(addr, to, 16);
	*port = to_port;
	return XLATE_DONE;
}

static __always_inline int sock6_xlate_rev(__u64 cookie, __u32 *addr, __be16 *port, __u8 proto)
{
	struct ipv6_revnat_tuple key = {};
	struct ipv6_revnat_entry *val;
	struct lb6_service *svc;
	struct lb6_key skey = {};

	key.cookie = cookie;
	__builtin_memcpy(key.address, addr, 16);
	key.port = *port;
	val = bpf_map_lookup_elem(&cellium_lb6_reverse_sk, &key);
	if (!val)
		return 0;
	__builtin_memcpy(skey.address, val->address, 16);
	skey.dport = val->port;
	skey.proto = proto;
	svc = lb6_lookup_service(&skey, 1);
	if (!svc || svc->rev_nat_index != val->rev_nat_index) {
		bpf_map_delete_elem(&cellium_lb6_reverse_sk, &key);
		return 0;
	}
	__builtin_memcpy(addr, val->address, 16);
	*port = val->port;
	return 1;
}

static __always_inline int sock6_fwd(struct bpf_sock_addr *ctx)
{
	__be16 port = ctx_port(ctx);
	enum xlate done;
	__u32 addr[4];
	__u64 cookie;
	__u8 proto;

	if (!sock_proto(ctx, &proto))
		return SYS_PROCEED;
	ctx_get_ip6(ctx, addr);
	cookie = bpf_get_socket_cookie(ctx);
	if (is_v4_mapped(addr))
		done = sock4_xlate_fwd(ctx, cookie, &addr[3], &port, proto);
	else
		done = sock6_xlate_fwd(ctx, cookie, addr, &port, proto);
	switch (done) {
	case XLATE_DONE:
		ctx_set_ip6(ctx, addr);
		ctx_set_port(ctx, port);
		return SYS_PROCEED;
	case XLATE_NO_BACKEND:
		return reject_no_backend();
	default:
		return SYS_PROCEED;
	}
}

static __always_inline int sock6_rev(struct bpf_sock_addr *ctx)
{
	__be16 port = ctx_port(ctx);
	__u32 addr[4];
	__u64 cookie;
	__u8 proto;
	int done;

	if (!sock_proto(ctx, &proto))
		return SYS_PROCEED;
	ctx_get_ip6(ctx, addr);
	cookie = bpf_get_socket_cookie(ctx);
	if (is_v4_mapped(addr))
		done = sock4_xlate_rev(cookie, &addr[3], &port, proto);
	else
		done = sock6_xlate_rev(cookie, addr, &port, proto);
	if (done) {
		ctx_set_ip6(ctx, addr);
		ctx_set_port(ctx, port);
	}
	return SYS_PROCEED;
}

SEC("cgroup/connect6")
int cil_sock6_connect(struct bpf_sock_addr *ctx)
{
	return sock6_fwd(ctx);
}

SEC("cgroup/sendmsg6")
int cil_sock6_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock6_fwd(ctx);
}

SEC("cgroup/recvmsg6")
int cil_sock6_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock6_rev(ctx);
}

SEC("cgroup/getpeername6")
int cil_sock6_getpeername(struct bpf_sock_addr *ctx)
{
	return sock6_rev(ctx);
}

char _license[] SEC("license") = "Dual BSD/GPL";
